"""Seeded, leak-free split assignment.

Records are assigned by group, so every record that shares a prompt — its preference pairs, its corrections,
its duplicates — and every record derived from another (an augmentation or a correction, through `parent`) lands
in the same split; group_keys finds the groups. split_assign gives each split its share of the records by largest
remainder, so on small data the achieved counts match the ratios as closely as the groups allow (0.5/0/0.5 of 4
records is 2/0/2, not whatever a coin gives). The assignment depends only on the seed, the ratios and the groups,
never on row order, so a version can be rebuilt exactly.
"""

import hashlib
from collections.abc import Iterable

from common.text_similarity import UnionFind

DEFAULT_RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
SPLITS = ("train", "validation", "test")


def ratios_check(ratios: dict) -> dict:
    from common.errors import ApplicationError

    unknown = set(ratios) - set(SPLITS)
    if unknown:
        raise ApplicationError(f"unknown split {sorted(unknown)[0]!r}; use train, validation and test", where="ratios")
    clean = {split: float(ratios.get(split, 0)) for split in SPLITS}
    if any(v < 0 for v in clean.values()) or abs(sum(clean.values()) - 1.0) > 1e-6:
        raise ApplicationError("split ratios must be non-negative and add up to 1", where="ratios")
    return clean


def split_for(group_key: str, *, seed: int, ratios: dict) -> str:
    digest = hashlib.sha256(f"{seed}:{group_key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for split in SPLITS:
        edge += ratios[split]
        if point < edge:
            return split
    return SPLITS[-1] if ratios[SPLITS[-1]] > 0 else max(SPLITS, key=lambda s: ratios[s])


def _rank(group_key: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}:{group_key}".encode()).digest()


def split_targets(total: int, ratios: dict) -> dict[str, int]:
    """Records per split by largest remainder: each split gets the whole part of its share of `total`, and the records
    left over go one each to the largest fractional parts (ties in split order). The counts add up to `total`, each is
    within one record of its exact share, and a split with ratio 0 gets none."""
    shares = {split: ratios[split] * total for split in SPLITS}
    targets = {split: int(shares[split]) for split in SPLITS}
    left = total - sum(targets.values())
    by_fraction = sorted(
        (split for split in SPLITS if ratios[split] > 0), key=lambda s: (-(shares[s] - targets[s]), SPLITS.index(s))
    )
    for split in by_fraction[:left]:
        targets[split] += 1
    return targets


def stratified_assign(groups: dict[str, tuple[str, int]], *, seed: int, ratios: dict) -> dict[str, str]:
    """Split groups so each stratum (a label) is divided in the ratios, while a group never straddles splits.

    `groups` maps a group key to (its stratum, its record count). Within a stratum, the split sizes are set by largest
    remainder (split_targets); groups are laid out in seeded hash order and each goes to the split its records'
    midpoint falls in, on the cumulative record count. Groups of one record meet the targets exactly; larger groups
    miss them by at most one group at each boundary. The result depends only on the seed, the ratios and the groups,
    and adding a record moves only groups near a boundary.
    """
    strata: dict[str, list[str]] = {}
    for key, (stratum, _) in groups.items():
        strata.setdefault(stratum, []).append(key)
    assigned: dict[str, str] = {}
    fallback = max(SPLITS, key=lambda s: ratios[s])
    for keys in strata.values():
        keys.sort(key=lambda k: _rank(k, seed))
        targets = split_targets(sum(groups[k][1] for k in keys), ratios)
        edges, edge = [], 0
        for split in SPLITS:
            edge += targets[split]
            edges.append((edge, split))
        done = 0
        for key in keys:
            count = groups[key][1]
            middle = done + count / 2
            assigned[key] = next((split for edge, split in edges if middle < edge and targets[split] > 0), fallback)
            done += count
    return assigned


def split_assign(groups: dict[str, int], *, seed: int, ratios: dict) -> dict[str, str]:
    """Group key → split, for groups given as key → record count: stratified_assign with a single stratum."""
    return stratified_assign({key: ("", count) for key, count in groups.items()}, seed=seed, ratios=ratios)


def split_entries(rows: list[int], keys: dict[int, str], *, seed: int, ratios: dict) -> list[tuple[int, str, list]]:
    """Version entries (record id, split, no labels) for the record ids `rows`, grouped by `keys` (from group_keys)."""
    counts: dict[str, int] = {}
    for pk in rows:
        counts[keys[pk]] = counts.get(keys[pk], 0) + 1
    splits = split_assign(counts, seed=seed, ratios=ratios)
    return [(pk, splits[keys[pk]], []) for pk in rows]


def group_keys(rows: Iterable[tuple[int, str, int | None]], links: Iterable[tuple[int, int]] = ()) -> dict[int, str]:
    """Record id → group key, for rows of (id, prompt hash, parent id or None).

    A group is a connected set: records sharing a prompt hash, a record and its parent (so all the augmentations of
    one root, and the root itself, whatever their own prompts), and any pair in `links` (e.g. a near-duplicate
    cluster). Its key is the smallest prompt hash among its roots (members whose parent is not among the rows),
    which is a lone record's own prompt hash and a tree's root prompt hash.
    """
    prompt_of: dict[int, str] = {}
    parent_of: dict[int, int | None] = {}
    for pk, prompt, parent in rows:
        prompt_of[pk], parent_of[pk] = prompt, parent
    union = UnionFind(prompt_of)
    first_with_prompt: dict[str, int] = {}
    for pk, prompt in prompt_of.items():
        union.union(pk, first_with_prompt.setdefault(prompt, pk))
        if parent_of[pk] in prompt_of:
            union.union(pk, parent_of[pk])
    for a, b in links:
        if a in prompt_of and b in prompt_of:
            union.union(a, b)
    group_of = {pk: union.find(pk) for pk in prompt_of}
    rooted: dict[int, str] = {}
    smallest: dict[int, str] = {}
    for pk, prompt in prompt_of.items():
        group = group_of[pk]
        smallest[group] = min(smallest.get(group, prompt), prompt)
        if parent_of[pk] not in prompt_of:
            rooted[group] = min(rooted.get(group, prompt), prompt)
    # A group without a root would be a cycle of parents: its smallest prompt hash stands in.
    return {pk: rooted.get(group, smallest[group]) for pk, group in group_of.items()}
