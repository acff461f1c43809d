"""Seeded, leak-free split assignment.

Records are assigned by group (the prompt hash), so every record that shares a prompt — its preference
pairs, its corrections, its duplicates — lands in the same split. The assignment depends only on the seed,
the ratios and the group key, never on row order, so a version can be rebuilt exactly.
"""

import hashlib

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


def stratified_assign(groups: dict[str, tuple[str, int]], *, seed: int, ratios: dict) -> dict[str, str]:
    """Split groups so each stratum (a label) is divided in the ratios, while a group never straddles splits.

    `groups` maps a group key to (its stratum, its record count). Within a stratum, groups are taken in seeded
    hash order and each goes to the split its records' midpoint falls in, on the cumulative record count; so the
    split sizes of every stratum match the ratios to within one group, and the result depends only on the seed,
    the ratios and the groups, never on row order.
    """
    strata: dict[str, list[str]] = {}
    for key, (stratum, _) in groups.items():
        strata.setdefault(stratum, []).append(key)
    assigned: dict[str, str] = {}
    for keys in strata.values():
        keys.sort(key=lambda k: _rank(k, seed))
        total = sum(groups[k][1] for k in keys)
        edges, edge = [], 0.0
        for split in SPLITS:
            edge += ratios[split] * total
            edges.append((edge, split))
        done = 0
        for key in keys:
            count = groups[key][1]
            middle = done + count / 2
            assigned[key] = next((split for edge, split in edges if middle < edge and ratios[split] > 0),
                                 max(SPLITS, key=lambda s: ratios[s]))
            done += count
    return assigned
