"""From duplicate pairs to clusters and keep/drop decisions, by the keep policy. Pure: positions in, decisions out.

Positions are items 0..n-1 already sorted best-first by the keep policy (better source tier, then higher quality
score, then earliest), so "better" simply means "lower position".

Exact copies collapse first onto their best copy. The remaining items are visited best-first (SemDeDup): an item is
dropped when it duplicates an item already kept, and the kept item it duplicates is recorded. A chain A~B~C where A
and C are not alike keeps A and C and drops B only, instead of deleting the whole chain. Clusters are the
connected components of every duplicate pair, for review.
"""

from dataclasses import dataclass

from common.text_similarity import UnionFind

STAGE_ORDER = {"exact": 0, "normalised": 1, "near": 2, "semantic": 3}


@dataclass
class Decision:
    position: int
    drop: bool
    kept: int | None = None
    similarity: float | None = None
    stage: str = ""


@dataclass
class Cluster:
    members: list[int]
    kept: int
    max_similarity: float


def exact_collapse(keys: list[str], *, stage: str, candidates: list[int]) -> tuple[list[int], dict[int, Decision]]:
    """Among `candidates` (best-first positions), keep the first of each key; the rest are exact drops."""
    first: dict[str, int] = {}
    survivors, drops = [], {}
    for position in candidates:
        key = keys[position]
        if key in first:
            drops[position] = Decision(position, True, first[key], 1.0, stage)
        else:
            first[key] = position
            survivors.append(position)
    return survivors, drops


def decisions_make(count: int, *, exact_drops: dict[int, Decision],
                   edges: list[tuple[int, int, float, str]]) -> tuple[dict[int, Decision], list[Cluster]]:
    """Decide every clustered item. `exact_drops` come from exact_collapse; `edges` are (a, b, similarity, stage)
    between survivors of the exact stages. Returns decisions for items in clusters of two or more, and the clusters."""
    neighbours: dict[int, list[tuple[int, float, str]]] = {}
    for a, b, similarity, stage in edges:
        neighbours.setdefault(a, []).append((b, similarity, stage))
        neighbours.setdefault(b, []).append((a, similarity, stage))
    decisions: dict[int, Decision] = {}
    kept: set[int] = set()
    for position in sorted(neighbours):
        matches = [(other, similarity, stage) for other, similarity, stage in neighbours[position] if other in kept]
        if not matches:
            kept.add(position)
            decisions[position] = Decision(position, False)
            continue
        other, similarity, stage = min(matches, key=lambda m: (STAGE_ORDER[m[2]], -m[1], m[0]))
        decisions[position] = Decision(position, True, other, similarity, stage)
    for position in sorted(exact_drops):
        drop = exact_drops[position]
        representative = decisions.get(drop.kept)
        if representative is not None and representative.drop:
            # An identical copy of an item dropped later is as similar to that item's kept copy as the item is.
            drop = Decision(position, True, representative.kept, representative.similarity, representative.stage)
        decisions[position] = drop
        decisions.setdefault(exact_drops[position].kept, Decision(exact_drops[position].kept, False))

    union = UnionFind(count)
    best_similarity: dict[int, float] = {}
    for a, b, similarity, _ in edges:
        union.union(a, b)
    for position, drop in exact_drops.items():
        union.union(position, drop.kept)
    for a, b, similarity, _ in edges:
        root = union.find(a)
        best_similarity[root] = max(best_similarity.get(root, 0.0), similarity)
    for position in exact_drops:
        best_similarity[union.find(position)] = 1.0
    clusters = []
    for root, members in union.groups().items():
        if len(members) > 1:
            clusters.append(Cluster(sorted(members), min(members), best_similarity.get(root, 1.0)))
    clusters.sort(key=lambda c: c.kept)
    return decisions, clusters
