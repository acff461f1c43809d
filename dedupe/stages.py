"""The three dedupe stages as pure functions over texts and vectors (REFERENCE.md §4): no database here.

exact:     the canonical content hash, and a normalised key (NFKC, casefold, collapsed whitespace, punctuation
           stripped, digits kept: "2+2" and "3+3" stay different).
near:      MinHash LSH (datasketch) over word 3-grams, or character 5-grams for short or CJK text; every LSH
           candidate is verified with the exact Jaccard of the shingle sets before it counts.
semantic:  cosine of L2-normalised embeddings with faiss: exact inner-product search for small sets, an IVF index
           probing several lists for large ones (one list per item finds only about three quarters of the pairs).
"""

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

WORD_NGRAM = 3
CHAR_NGRAM = 5
SHORT_TEXT_WORDS = 8
CJK_SHARE = 0.3
FLAT_SEARCH_LIMIT = 20_000
IVF_NPROBE = 16
NEIGHBOURS = 16
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Pair:
    """Two item positions and how similar a stage found them; `a < b`."""

    a: int
    b: int
    similarity: float


def normalised_key(text: str) -> str:
    """SHA-256 of the text after NFKC, casefold, punctuation stripped and whitespace collapsed (digits kept)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch if not unicodedata.category(ch).startswith("P") else " " for ch in text)
    text = _SPACE.sub(" ", text).strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x3040 <= code <= 0x30FF or 0xAC00 <= code <= 0xD7AF
            or 0xF900 <= code <= 0xFAFF)


def mostly_cjk(text: str) -> bool:
    """At least CJK_SHARE of the text's letters are Chinese, Japanese or Korean characters."""
    letters = [ch for ch in text if not ch.isspace()]
    return sum(1 for ch in letters if _is_cjk(ch)) >= CJK_SHARE * max(1, len(letters))


def shingles(text: str) -> set[str]:
    """Word 3-grams; character 5-grams when the text is short or mostly CJK (no spaces between words)."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    letters = [ch for ch in text if not ch.isspace()]
    cjk = sum(1 for ch in letters if _is_cjk(ch))
    words = _WORD.findall(text)
    if len(words) >= SHORT_TEXT_WORDS and cjk < CJK_SHARE * max(1, len(letters)):
        return {" ".join(words[i:i + WORD_NGRAM]) for i in range(len(words) - WORD_NGRAM + 1)}
    compact = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    if len(compact) <= CHAR_NGRAM:
        return {compact}
    return {compact[i:i + CHAR_NGRAM] for i in range(len(compact) - CHAR_NGRAM + 1)}


def jaccard(left: set, right: set) -> float:
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def near_pairs(texts: list[str], *, threshold: float, num_perm: int = 128, seed: int = 1) -> tuple[list[Pair], list[Pair]]:
    """(duplicates, near misses): LSH candidates verified by exact Jaccard ≥ `threshold`, and the verified
    candidates that fell short (kept for the closest-pairs report)."""
    from datasketch import MinHash, MinHashLSH

    sets = [shingles(text) for text in texts]
    encoded = [[s.encode("utf-8") for s in shingle_set] for shingle_set in sets]
    signatures = MinHash.bulk(encoded, num_perm=num_perm, seed=seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for position, signature in enumerate(signatures):
        lsh.insert(position, signature, check_duplication=False)
    duplicates, misses, seen = [], [], set()
    for position, signature in enumerate(signatures):
        for other in lsh.query(signature):
            key = (min(position, other), max(position, other))
            if other == position or key in seen:
                continue
            seen.add(key)
            similarity = jaccard(sets[key[0]], sets[key[1]])
            (duplicates if similarity >= threshold else misses).append(Pair(key[0], key[1], similarity))
    return duplicates, misses


def _index(vectors: np.ndarray):
    """Exact inner-product search up to FLAT_SEARCH_LIMIT items; above it an IVF index probing IVF_NPROBE lists."""
    import faiss

    count, dim = vectors.shape
    if count <= FLAT_SEARCH_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        lists = int(4 * math.sqrt(count))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(IVF_NPROBE, lists)
    index.add(vectors)
    return index


def semantic_neighbours(vectors: np.ndarray, *, neighbours: int = NEIGHBOURS, floor: float = -1.0) -> tuple[list[Pair], np.ndarray]:
    """The (item, neighbour) pairs with cosine >= `floor` among each item's `neighbours` nearest (deduplicated, a < b),
    and each item's nearest-neighbour cosine (nan for a lone item). `vectors` must be L2-normalised float32."""
    count = len(vectors)
    if count < 2:
        return [], np.full(count, np.nan, dtype=np.float32)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    scores, ids = _index(vectors).search(vectors, min(count, neighbours + 1))
    scores = np.minimum(scores, 1.0)
    scores[(ids < 0) | (ids == np.arange(count)[:, None])] = -np.inf
    nearest = scores.max(axis=1)
    nearest[np.isinf(nearest)] = np.nan
    best: dict[tuple[int, int], float] = {}
    # Only the few pairs above the floor leave numpy: a Python loop over every n x k result would dominate at scale.
    for row, column in zip(*np.nonzero(scores >= floor)):
        other, score = int(ids[row, column]), float(scores[row, column])
        key = (min(int(row), other), max(int(row), other))
        if score > best.get(key, -2.0):
            best[key] = score
    return [Pair(a, b, s) for (a, b), s in best.items()], nearest


def histogram(values, *, low: float, high: float = 1.0, bins: int = 20) -> dict:
    """Counts of `values` in `bins` equal bins from `low` to `high` (values below `low` go in the first bin)."""
    finite = np.asarray([v for v in values if v is not None and not np.isnan(v)], dtype=np.float64)
    edges = np.linspace(low, high, bins + 1)
    counts, _ = np.histogram(np.clip(finite, low, high), bins=edges)
    return {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


class UnionFind:
    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)

    def groups(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for item in range(len(self.parent)):
            found.setdefault(self.find(item), []).append(item)
        return found
