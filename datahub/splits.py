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
