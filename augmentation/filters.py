"""The verdict on each augmentation candidate (docs/reference.md §5), with the reason a person sees on the review
screen.

Checks run in this order and the first that fails is the reason:
  empty → invalid → unchanged → duplicate_original (its content is already in the dataset) → duplicate_candidate
  (an earlier candidate of this run has the same content) → the method's own rule:
    back-translation: cosine to the original ≥ 0.85 (same meaning) and token Jaccard ≤ 0.3 (new words);
    paraphrase: cosine to the original in [0.85, 0.95) and ROUGE-L ≤ 0.7 against everything kept for that parent
      (the original and the paraphrases already kept), so the variants differ from each other too;
    EDA: nothing more (its edits keep meaning by construction; the dedupe checks above apply).
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from augmentation.text import token_jaccard
from common.text import rouge_l

THRESHOLDS_DEFAULT = {
    "back_translation_cosine_min": 0.85,
    "back_translation_jaccard_max": 0.3,
    "paraphrase_cosine_min": 0.85,
    "paraphrase_cosine_max": 0.95,
    "paraphrase_rouge_l_max": 0.7,
}

KEPT = "kept"
REASONS = {
    KEPT: _("passes every filter"),
    "empty": _("the model gave no text"),
    "invalid": _("the new record is not a valid conversation"),
    "unchanged": _("the same text as the original"),
    "duplicate_original": _("its content is already in the dataset"),
    "duplicate_candidate": _("an earlier candidate has the same content"),
    "unreadable": _("meaning cannot be checked: the embedding model reads English only; choose a multilingual model"),
    "too_far": _("meaning drifted: cosine to the original below the minimum"),
    "too_close": _("hardly reworded: cosine to the original at or above the maximum"),
    "same_words": _("too many of the original's words: token Jaccard above the maximum"),
    "rouge_overlap": _("overlaps what is kept: ROUGE-L above the maximum"),
    "model_error": _("the model call failed"),
}


@dataclass
class Verdict:
    reason: str
    scores: dict = field(default_factory=dict)

    @property
    def is_passing(self) -> bool:
        return self.reason == KEPT


def verdict_dedupe(*, original: str, text: str, content_hash: str | None, existing_hashes: set[str],
                   seen_hashes: set[str]) -> Verdict | None:
    """The checks every method shares; None when the candidate passes them. Adds a passing hash to `seen_hashes`."""
    if not text.strip():
        return Verdict("empty")
    if content_hash is None:
        return Verdict("invalid")
    if " ".join(text.split()) == " ".join(original.split()):
        return Verdict("unchanged")
    if content_hash in existing_hashes:
        return Verdict("duplicate_original")
    if content_hash in seen_hashes:
        return Verdict("duplicate_candidate")
    seen_hashes.add(content_hash)
    return None


def verdict_back_translation(*, original: str, text: str, cosine: float, thresholds: dict) -> Verdict:
    scores = {"cosine": cosine, "jaccard": round(token_jaccard(original, text), 4)}
    if cosine < thresholds["back_translation_cosine_min"]:
        return Verdict("too_far", scores)
    if scores["jaccard"] > thresholds["back_translation_jaccard_max"]:
        return Verdict("same_words", scores)
    return Verdict(KEPT, scores)


def verdict_paraphrase(*, original: str, text: str, cosine: float, kept: list[str], thresholds: dict) -> Verdict:
    """`kept` is what is already kept for this parent (the original first); a passing text is appended to it."""
    scores = {"cosine": cosine, "rouge_l": round(max(rouge_l(k, text) for k in kept), 4)}
    if cosine < thresholds["paraphrase_cosine_min"]:
        return Verdict("too_far", scores)
    if cosine >= thresholds["paraphrase_cosine_max"]:
        return Verdict("too_close", scores)
    if scores["rouge_l"] > thresholds["paraphrase_rouge_l_max"]:
        return Verdict("rouge_overlap", scores)
    kept.append(text)
    return Verdict(KEPT, scores)
