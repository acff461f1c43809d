"""The semantic dedupe stage and the run's histograms as pure functions over vectors: no database here.

exact:     the canonical content hash, and common.text_similarity.normalised_hash.
near:      common.text_similarity.near_pairs (MinHash LSH over shingles, each candidate verified by exact Jaccard),
           the same rule the leakage check between splits uses.
semantic:  cosine of L2-normalised embeddings with faiss: exact inner-product search for small sets, an IVF index
           probing several lists for large ones (one list per item finds only about three quarters of the pairs).
"""

import math

import numpy as np

from common.text_similarity import Pair

FLAT_SEARCH_LIMIT = 20_000
IVF_NPROBE = 16
NEIGHBOURS = 16


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


def semantic_neighbours(
    vectors: np.ndarray, *, neighbours: int = NEIGHBOURS, floor: float = -1.0
) -> tuple[list[Pair], np.ndarray]:
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
