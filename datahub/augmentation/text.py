"""Text measures the augmentation filters use: tokens, language, token Jaccard, ROUGE-L, embedding cosine.

Tokens are lower-cased words for alphabetic scripts and single characters for CJK text, so the same measures work on
English and Chinese prompts. ROUGE-L is computed here (LCS over these tokens) rather than with rouge-score, whose
default tokenizer drops every non-ASCII character and would score two Chinese sentences as empty.
"""

import re

import numpy as np

TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")


def tokens(text: str) -> list[str]:
    return [t.casefold() for t in TOKEN.findall(text)]


def language_of(text: str) -> str:
    """"zh" when CJK characters outnumber Latin letters, "en" when there are Latin letters, "" for neither."""
    cjk, latin = len(CJK.findall(text)), len(LATIN.findall(text))
    if cjk == 0 and latin == 0:
        return ""
    return "zh" if cjk >= latin else "en"


def token_jaccard(a: str, b: str) -> float:
    left, right = set(tokens(a)), set(tokens(b))
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts over `tokens`."""
    left, right = tokens(a), tokens(b)
    if not left or not right:
        return 0.0
    lcs = _lcs(left, right)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(right), lcs / len(left)
    return 2 * precision * recall / (precision + recall)


def embedding_model_default() -> str:
    from datahub.dedupe.embeddings import EMBEDDING_MODEL_DEFAULT

    return EMBEDDING_MODEL_DEFAULT


def embed(texts: list[str], *, model_name: str | None = None) -> np.ndarray:
    """L2-normalised embeddings through the dedupe app's cached embedder (cached by content hash and model)."""
    # Imported here: sentence-transformers is heavy and only the jobs that filter need it.
    from datahub.dedupe.embeddings import texts_embed

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
