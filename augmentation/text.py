"""Text measures the augmentation filters use: language, token Jaccard, embedding cosine (ROUGE-L is
common.text.rouge_l).

Tokens are lower-cased words for alphabetic scripts and single characters for CJK text (common.text.tokens), so the
same measures work on English and Chinese prompts.
"""

import re

import numpy as np

from common.text import tokens
from common.text_similarity import CJK, jaccard

LATIN = re.compile(r"[A-Za-z]")


def language_of(text: str) -> str:
    """"zh" when CJK characters outnumber Latin letters, "en" when there are Latin letters, "" for neither."""
    cjk, latin = len(CJK.findall(text)), len(LATIN.findall(text))
    if cjk == 0 and latin == 0:
        return ""
    return "zh" if cjk >= latin else "en"


def token_jaccard(a: str, b: str) -> float:
    return jaccard(set(tokens(a)), set(tokens(b)))


def embedding_model_default() -> str:
    from dedupe.embeddings import EMBEDDING_MODEL_DEFAULT

    return EMBEDDING_MODEL_DEFAULT


def embed(texts: list[str], *, model_name: str | None = None) -> np.ndarray:
    """L2-normalised embeddings through the dedupe app's cached embedder (cached by content hash and model)."""
    # Imported here: sentence-transformers is heavy and only the jobs that filter need it.
    from dedupe.embeddings import texts_embed

    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    return texts_embed(list(texts), model_name=model_name or None)


def cosines(pairs: list[tuple[str, str]], *, model_name: str | None = None) -> list[float]:
    """Cosine of each (a, b) pair; every distinct text is embedded once."""
    unique = list(dict.fromkeys(t for pair in pairs for t in pair))
    if not unique:
        return []
    vectors = embed(unique, model_name=model_name)
    index = {text: i for i, text in enumerate(unique)}
    return [round(float(np.dot(vectors[index[a]], vectors[index[b]])), 4) for a, b in pairs]
