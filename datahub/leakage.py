"""Leakage between splits: test prompts that also appear in train, exactly or nearly.

Exact: the same prompt hash (normalised text of every non-system prompt turn; see datahub.canonical.prompt_hash).
Near: MinHash over character 5-grams of the normalised prompt text, banded for locality-sensitive lookup, each
candidate pair then confirmed by its true Jaccard similarity (default at least 0.8). Character n-grams, not words,
so Chinese (no spaces) is compared as well as English. Deterministic: CRC32-based hashes, no process-seeded hash().
"""

import zlib
from collections import defaultdict
from dataclasses import dataclass

from datahub.canonical import normalised_key

SHINGLE = 5
BANDS, ROWS = 16, 4  # 64 hashes; a pair at Jaccard 0.8 shares a band with probability 1 - (1 - 0.8**4)**16 ≈ 0.9996
NEAR_THRESHOLD = 0.8
_PRIME = (1 << 61) - 1
_SEEDS = [(zlib.crc32(f"a{i}".encode()) | 1, zlib.crc32(f"b{i}".encode())) for i in range(BANDS * ROWS)]


@dataclass(frozen=True)
class Leak:
    test_record: int
    train_record: int
    kind: str  # "exact" or "near"
    similarity: float
    prompt: str


def prompt_text(messages: list[dict], kind: str) -> str:
    """The user-visible prompt: every non-system turn before the final answer."""
    turns = messages if kind == "preference" else messages[:-1] if messages and messages[-1].get("role") == "assistant" else messages
    return "\n".join(m.get("content") or "" for m in turns if m.get("role") != "system")


def shingles(text: str) -> set[int]:
    key = normalised_key(text).replace(" ", "")
    if len(key) <= SHINGLE:
        return {zlib.crc32(key.encode())} if key else set()
    return {zlib.crc32(key[i:i + SHINGLE].encode()) for i in range(len(key) - SHINGLE + 1)}


def _signature(items: set[int]) -> list[int]:
    return [min((a * x + b) % _PRIME for x in items) for a, b in _SEEDS]


def _bands(items: set[int]) -> list[tuple]:
    signature = _signature(items)
    return [(band, *signature[band * ROWS:(band + 1) * ROWS]) for band in range(BANDS)]


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def leaks_find(*, train: list[tuple[int, str, str]], test: list[tuple[int, str, str]], threshold: float = NEAR_THRESHOLD) -> list[Leak]:
    """Leaks of `test` into `train`; each side is (record id, prompt hash, prompt text). One leak per test record,
    exact before near, the most similar train record for a near one."""
    exact_train = {}
    for record_id, prompt_hash, _ in train:
        exact_train.setdefault(prompt_hash, record_id)
    leaks: list[Leak] = []
    rest = []
    for record_id, prompt_hash, text in test:
        if prompt_hash in exact_train:
            leaks.append(Leak(record_id, exact_train[prompt_hash], "exact", 1.0, text))
        else:
            rest.append((record_id, text))
    if not rest:
        return leaks
    index: dict[tuple, list[int]] = defaultdict(list)
    train_shingles: dict[int, set[int]] = {}
    for record_id, _, text in train:
        items = shingles(text)
        if not items:
            continue
        train_shingles[record_id] = items
        for band in _bands(items):
            index[band].append(record_id)
    for record_id, text in rest:
        items = shingles(text)
        if not items:
            continue
        candidates = {other for band in _bands(items) for other in index.get(band, ())}
        best = max(((jaccard(items, train_shingles[c]), c) for c in candidates), default=(0.0, 0))
        if best[0] >= threshold:
            leaks.append(Leak(record_id, best[1], "near", round(best[0], 3), text))
    return leaks
