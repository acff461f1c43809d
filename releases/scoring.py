"""The scorecard's rules: five dimensions, each scored 1–5 from measured evidence, and the weighted total.

Pure functions, no database: releases.evidence gathers the figures, these turn them into scores, and the page, the
API and the command show the same rules (RULES) beside the scores. A dimension without its evidence is *missing*
(score None), never scored 1; the total is then None and the scorecard says which dimensions are missing.

    task           the support-rate band of the latest blind pairwise study of the candidate against its base
                   model: marked improvement 5, success 4, better but not good enough 3, no progress 2, damaged 1;
                   not yet conclusive is missing. When a rating study's mean (1–5) exists, the score is the mean of
                   the band's score and the rating mean (task_score).
    general        the overall result of the latest general-capability check (candidate against its base): kept
                   with no drop 5; kept with a drop within the tolerance 4; a drop beyond the tolerance that is not
                   significant 3; a significant regression up to twice the tolerance 2, beyond it 1.
    speed          decoding speed through the model server, greedy, candidate ÷ base tokens/s: ≥ 0.95 → 5,
                   ≥ 0.80 → 4, ≥ 0.60 → 3, ≥ 0.40 → 2, else 1; one point less (not below 1) when the candidate's p95
                   latency exceeds 1.5 × the base's.
    resources      the lower of two sub-scores: peak memory of the training run (≤ 8 GB 5, ≤ 16 4, ≤ 24 3, ≤ 48 2,
                   else 1: common accelerator sizes) and the disk size to serve it (the merged weights, else base +
                   adapter; ≤ 2 GB 5, ≤ 8 4, ≤ 16 3, ≤ 40 2, else 1).
    deployability  a merged export that loads and answers 4, and 5 with a further portable format (ONNX, GGUF);
                   no merged export but the adapter loads and answers through the server 2; nothing answers 1.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from evaluation.statistics.support import (
    DAMAGED,
    MARKED_IMPROVEMENT,
    NO_PROGRESS,
    NOT_GOOD_ENOUGH,
    SUCCESS,
)

TASK, GENERAL, SPEED, RESOURCES, DEPLOYABILITY = "task", "general", "speed", "resources", "deployability"
DIMENSIONS = (TASK, GENERAL, SPEED, RESOURCES, DEPLOYABILITY)
DEFAULT_WEIGHTS = {TASK: 0.40, GENERAL: 0.20, SPEED: 0.15, RESOURCES: 0.15, DEPLOYABILITY: 0.10}
READY_TO_SHIP = 4.0  # the brief: a weighted total of 4 or more means "consider shipping"

DIMENSION_LABELS = {
    TASK: _("Target task"),
    GENERAL: _("General ability"),
    SPEED: _("Inference speed"),
    RESOURCES: _("Resource use"),
    DEPLOYABILITY: _("Ease of deployment"),
}

RULES = {
    TASK: _("From the latest blind pairwise study of this model against its base: marked improvement 5, success 4, "
            "better but not good enough 3, no progress 2, damaged 1; not yet conclusive counts as missing. With a "
            "rating study, the mean of this score and the rating mean."),
    GENERAL: _("From the latest general-capability check against the base: kept with no drop 5; kept, a drop within "
               "the tolerance 4; a drop beyond the tolerance that is not significant 3; a significant regression up "
               "to twice the tolerance 2, beyond it 1."),
    SPEED: _("Greedy replies through the model server, candidate ÷ base tokens per second: at least 0.95 → 5, "
             "0.80 → 4, 0.60 → 3, 0.40 → 2, else 1; one point less when the candidate's p95 latency is more than "
             "1.5 × the base's."),
    RESOURCES: _("The lower of: the training run's peak memory (up to 8 GB 5, 16 GB 4, 24 GB 3, 48 GB 2, else 1) "
                 "and the disk size to serve the model (merged weights, else base + adapter; up to 2 GB 5, 8 GB 4, "
                 "16 GB 3, 40 GB 2, else 1)."),
    DEPLOYABILITY: _("A merged export that loads and answers 4, and 5 with a further portable format (ONNX, GGUF); "
                     "no merged export but the adapter loads and answers 2; nothing answers 1."),
}

BAND_SCORES = {MARKED_IMPROVEMENT: 5, SUCCESS: 4, NOT_GOOD_ENOUGH: 3, NO_PROGRESS: 2, DAMAGED: 1}
SPEED_STEPS = ((0.95, 5), (0.80, 4), (0.60, 3), (0.40, 2))
SLOW_P95_FACTOR = 1.5
MEMORY_STEPS_GB = ((8, 5), (16, 4), (24, 3), (48, 2))
DISK_STEPS_GB = ((2, 5), (8, 4), (16, 3), (40, 2))
GB = 1024**3


@dataclass(frozen=True)
class Scored:
    score: float | None  # 1..5, or None when the evidence is missing
    missing: str = ""  # why, when score is None


def task_score(band: str | None, rating_mean: float | None = None) -> Scored:
    """`band`: the verdict band of the latest study (evaluation.statistics.support), None without a study."""
    if band is None:
        return Scored(None, str(_("no blind study of this model against its base")))
    if band not in BAND_SCORES:
        return Scored(None, str(_("the latest study is not yet conclusive")))
    score = BAND_SCORES[band]
    return Scored(score if rating_mean is None else (score + rating_mean) / 2)


def general_score(verdict: str | None, change: float | None, tolerance: float | None) -> Scored:
    """`verdict`, `change` and `tolerance` of the latest check's overall result (evaluation.general.statistics)."""
    if verdict is None or change is None or tolerance is None:
        return Scored(None, str(_("no finished general-capability check of this model against its base")))
    if verdict == "kept":
        return Scored(5 if change >= 0 else 4)
    if verdict == "not_conclusive":
        return Scored(3)
    return Scored(2 if -change <= 2 * tolerance + 1e-12 else 1)


def _stepped(value: float, steps, *, higher_is_better: bool) -> int:
    for threshold, score in steps:
        if (value >= threshold) if higher_is_better else (value <= threshold):
            return score
    return 1


def speed_score(tokens_per_s_ratio: float | None, p95_ratio: float | None) -> Scored:
    if tokens_per_s_ratio is None or p95_ratio is None:
        return Scored(None, str(_("the speed was not measured")))
    score = _stepped(tokens_per_s_ratio, SPEED_STEPS, higher_is_better=True)
    if p95_ratio > SLOW_P95_FACTOR:
        score = max(1, score - 1)
    return Scored(score)


def resources_score(peak_memory_bytes: int | None, serving_disk_bytes: int | None) -> Scored:
    if peak_memory_bytes is None:
        return Scored(None, str(_("the training run recorded no peak memory")))
    if serving_disk_bytes is None:
        return Scored(None, str(_("the model's files are not on disk")))
    memory = _stepped(peak_memory_bytes / GB, MEMORY_STEPS_GB, higher_is_better=False)
    disk = _stepped(serving_disk_bytes / GB, DISK_STEPS_GB, higher_is_better=False)
    return Scored(min(memory, disk))


def deployability_score(*, merged_answers: bool | None, adapter_answers: bool | None,
                        portable_formats: list[str]) -> Scored:
    """`merged_answers`: None when there is no merged export, else whether it loaded and answered;
    `adapter_answers`: whether the candidate as stored (adapter on its base) loaded and answered."""
    if merged_answers:
        return Scored(5 if portable_formats else 4)
    if merged_answers is None and adapter_answers:
        return Scored(2)
    return Scored(1)


@dataclass(frozen=True)
class Total:
    total: float | None
    is_complete: bool
    is_ready_to_ship: bool
    missing: list[str]  # the dimensions without a score


def weighted_total(scores: dict[str, float | None], weights: dict[str, float]) -> Total:
    """Σ weight × score over the five dimensions; None (and not ready) while any dimension is missing."""
    missing = [key for key in DIMENSIONS if scores.get(key) is None]
    if missing:
        return Total(None, False, False, missing)
    total = sum(weights[key] * scores[key] for key in DIMENSIONS)
    return Total(total, True, total >= READY_TO_SHIP - 1e-9, [])


def weights_check(weights: dict) -> dict[str, float]:
    """The five weights as floats, each in 0..1 and summing to 1; raises ValueError naming the problem."""
    if set(weights) != set(DIMENSIONS):
        raise ValueError(f"weights must name exactly {', '.join(DIMENSIONS)}")
    clean = {}
    for key in DIMENSIONS:
        value = weights[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{key}: a weight is a number from 0 to 1; got {value!r}")
        clean[key] = float(value)
    if abs(sum(clean.values()) - 1) > 1e-6:
        raise ValueError(f"the weights sum to {sum(clean.values()):g}; they must sum to 1")
    return clean
