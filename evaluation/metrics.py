"""Automatic metrics of answers against reference answers: exact match, BLEU (sacrebleu), ROUGE-L (common.text).

Pure functions over lists of strings. They sit beside the human result, never instead of it: overlap with one
reference rewards copying its wording, not helpfulness.
"""

from dataclasses import asdict, dataclass

import sacrebleu

from common.text import HAS_CJK, rouge_l


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class Metrics:
    count: int  # answers that have a reference
    exact_match: float | None  # share equal to the reference after casefolding and collapsing whitespace
    bleu: float | None  # corpus BLEU, 0–100
    rouge_l: float | None  # mean ROUGE-L F-measure, 0–1

    def as_dict(self) -> dict:
        return asdict(self)


def automatic_metrics(predictions: list[str], references: list[str]) -> Metrics:
    """Exact match, corpus BLEU and mean ROUGE-L of `predictions` against one reference each (same order).

    BLEU tokenises with sacrebleu's Chinese tokenizer when any reference has CJK text, else its default (13a).
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        return Metrics(0, None, None, None)
    exact = sum(_normalise(p) == _normalise(r) for p, r in zip(predictions, references)) / len(predictions)
    tokenize = "zh" if any(HAS_CJK.search(r) for r in references) else "13a"
    bleu = sacrebleu.corpus_bleu(predictions, [references], tokenize=tokenize).score
    rouge = sum(rouge_l(r, p) for p, r in zip(predictions, references)) / len(predictions)
    return Metrics(count=len(predictions), exact_match=exact, bleu=float(bleu), rouge_l=float(rouge))


# Per-prompt statistics, for the paired bootstrap between arms (evaluation/statistics/bootstrap.py): each function
# returns one row per prediction, whose column sums give the corpus figure above.

LABEL_MAX_CHARS = 40  # a reference this short and on one line reads as a class label
LABEL_CLASSES_MAX = 20


def is_label_like(references: list[str]) -> bool:
    """Whether every reference is a short one-line label, with few distinct values: then accuracy and macro F1 are
    the figures that mean something, not BLEU or ROUGE-L."""
    labels = {_normalise(r) for r in references}
    return bool(references) and len(labels) <= LABEL_CLASSES_MAX and all(
        len(r.strip()) <= LABEL_MAX_CHARS and "\n" not in r.strip() for r in references)


def exact_match_values(predictions: list[str], references: list[str]) -> list[float]:
    """1.0 where the prediction equals its reference after casefolding and collapsing whitespace, else 0.0."""
    return [float(_normalise(p) == _normalise(r)) for p, r in zip(predictions, references, strict=True)]


def rouge_l_values(predictions: list[str], references: list[str]) -> list[float]:
    return [float(rouge_l(r, p)) for p, r in zip(predictions, references, strict=True)]


def bleu_statistics(predictions: list[str], references: list[str]) -> list[list[float]]:
    """sacrebleu's sufficient statistics per prediction (lengths, then matched and total 1–4-grams), tokenised as
    automatic_metrics tokenises: their sums give its corpus BLEU (bootstrap.bleu_from_sums)."""
    tokenize = "zh" if any(HAS_CJK.search(r) for r in references) else "13a"
    metric = sacrebleu.metrics.bleu.BLEU(tokenize=tokenize)
    return [list(map(float, row)) for row in metric._extract_corpus_statistics(predictions, [references])]


def label_counts(predictions: list[str], references: list[str], classes: list[str]) -> list[list[float]]:
    """Per prediction, [tp, fp, fn] for each class in `classes` (normalised labels): their sums give macro F1
    (bootstrap.macro_f1_from_sums)."""
    rows = []
    for p, r in zip(predictions, references, strict=True):
        predicted, gold = _normalise(p), _normalise(r)
        row = []
        for name in classes:
            row += [float(predicted == name and gold == name), float(predicted == name and gold != name),
                    float(gold == name and predicted != name)]
        rows.append(row)
    return rows


def label_classes(references: list[str]) -> list[str]:
    return sorted({_normalise(r) for r in references})
