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
