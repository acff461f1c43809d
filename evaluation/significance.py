"""Significance wherever a study compares a number between arms, for result readers (they name the arms).

- study_metric_comparisons: each candidate against the baseline on the automatic metrics of their answers to the same
  prompts (exact match, BLEU and ROUGE-L; accuracy and macro F1 when the reference answers are labels), with a paired
  bootstrap interval of the difference and its p-value, Holm-adjusted over the candidates, on all prompts and on the
  prompts of each label the prompts carry;
- study_support_by_prompt_label: a pairwise study's support rate by the labels the prompts carry, and per label
  whether the data helped (the candidate significantly preferred: exact sign test, Holm-adjusted over candidates).

Every comparison says whether it is significant at the study's significance_level. The bootstrap is seeded by the
study's seed, so a page shows the same figures on every load.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from datahub.models import Record
from evaluation.metrics import (
    bleu_statistics,
    exact_match_values,
    is_label_like,
    label_classes,
    label_counts,
    rouge_l_values,
)
from evaluation.models import Answer, Arm, Study
from evaluation.rating_results import _prompt_labels
from evaluation.statistics.bootstrap import (
    BOOTSTRAP_RESAMPLES,
    PairedDifference,
    bleu_from_sums,
    macro_f1_from_sums,
    paired_bootstrap,
)
from evaluation.statistics.multiple import holm_adjust, significant
from evaluation.statistics.support import Summary, summarize, tally_of

FREE_TEXT_METRICS = ("exact_match", "bleu", "rouge_l")
LABEL_METRICS = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class MetricComparison:
    candidate_id: int
    candidate: str
    metric: str
    difference: PairedDifference  # candidate minus baseline, with its bootstrap interval and p-value
    p_adjusted: float | None  # Holm over the candidates
    significant: bool | None
    direction: str  # "better", "worse" or "same"


@dataclass(frozen=True)
class LabelMetrics:
    label: str
    prompts: int
    comparisons: list[MetricComparison]
    helped: dict[int, str]  # candidate arm id → "helped", "hurt", "mixed" or "no_difference"


@dataclass(frozen=True)
class MetricComparisons:
    significance_level: float
    resamples: int
    label_like: bool  # the references are labels: accuracy and macro F1 instead of exact match, BLEU and ROUGE-L
    comparisons: list[MetricComparison]
    labels: list[LabelMetrics] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _metric_difference(metric: str, candidate: list[str], baseline: list[str], references: list[str], *,
                       seed: int, rounds: int, confidence: float) -> PairedDifference:
    if metric in ("exact_match", "accuracy"):
        return paired_bootstrap(exact_match_values(candidate, references), exact_match_values(baseline, references),
                                seed=seed, rounds=rounds, confidence=confidence)
    if metric == "rouge_l":
        return paired_bootstrap(rouge_l_values(candidate, references), rouge_l_values(baseline, references),
                                seed=seed, rounds=rounds, confidence=confidence)
    if metric == "bleu":
        return paired_bootstrap(bleu_statistics(candidate, references), bleu_statistics(baseline, references),
                                summarise=bleu_from_sums, seed=seed, rounds=rounds, confidence=confidence)
    classes = label_classes(references + candidate + baseline)
    return paired_bootstrap(label_counts(candidate, references, classes), label_counts(baseline, references, classes),
                            summarise=macro_f1_from_sums, seed=seed, rounds=rounds, confidence=confidence)


def _direction(value: float | None) -> str:
    return "better" if value and value > 0 else "worse" if value and value < 0 else "same"


def _compare(study: Study, arms: list[Arm], metrics: tuple[str, ...], texts: dict, references: dict,
             prompts: set[int] | None, rounds: int) -> list[MetricComparison]:
    baseline = next(arm for arm in arms if arm.is_baseline)
    candidates = [arm for arm in arms if not arm.is_baseline]
    rows = []
    for metric in metrics:
        differences = []
        for candidate in candidates:
            keys = sorted(p for p in references if (prompts is None or p in prompts)
                          and (p, candidate.pk) in texts and (p, baseline.pk) in texts)
            differences.append(_metric_difference(
                metric, [texts[p, candidate.pk] for p in keys], [texts[p, baseline.pk] for p in keys],
                [references[p] for p in keys], seed=study.seed, rounds=rounds,
                confidence=1 - study.significance_level))
        adjusted = holm_adjust([d.p_value for d in differences])
        rows += [MetricComparison(c.pk, c.name, metric, d, p, significant(p, study.significance_level),
                                  _direction(d.difference))
                 for c, d, p in zip(candidates, differences, adjusted)]
    return rows


def _helped(rows, candidate_id: int) -> str:
    decided = {row.direction for row in rows if row.candidate_id == candidate_id and row.significant}
    if decided == {"better"}:
        return "helped"
    if decided == {"worse"}:
        return "hurt"
    return "mixed" if decided else "no_difference"


def _labelled_prompts(study: Study) -> dict[str, set[int]]:
    by_label: dict[str, set[int]] = defaultdict(set)
    for prompt, names in _prompt_labels(study).items():
        for name in names:
            by_label[name].add(prompt)
    return dict(sorted(by_label.items()))


def study_metric_comparisons(*, study: Study, arms: list[Arm] | None = None,
                             rounds: int = BOOTSTRAP_RESAMPLES) -> MetricComparisons:
    """Each candidate against the baseline on the automatic metrics, overall and per prompt label (see the module).
    Prompts without a reference answer are left out. Six queries: the arms, the prompts' records, the references,
    the answers, and the prompts' labels (two)."""
    arms = list(study.arms.order_by("-is_baseline", "name")) if arms is None else arms
    record_ids = dict(study.prompts.exclude(record_id=None).values_list("pk", "record_id"))
    records = Record.objects.in_bulk(set(record_ids.values()))
    references = {p: records[r].response_text for p, r in record_ids.items() if r in records}
    references = {p: text for p, text in references.items() if text.strip()}
    texts = {(prompt, arm): text for prompt, arm, text in
             Answer.objects.filter(prompt__study=study, arm__isnull=False).values_list("prompt_id", "arm_id", "text")}
    label_like = is_label_like(list(references.values()))
    metrics = LABEL_METRICS if label_like else FREE_TEXT_METRICS
    if not references or not any(not arm.is_baseline for arm in arms):
        return MetricComparisons(study.significance_level, rounds, label_like, [])
    labels = []
    for label, prompts in _labelled_prompts(study).items():
        rows = _compare(study, arms, metrics, texts, references, prompts, rounds)
        labels.append(LabelMetrics(label, len(prompts & set(references)), rows,
                                   {a.pk: _helped(rows, a.pk) for a in arms if not a.is_baseline}))
    return MetricComparisons(study.significance_level, rounds, label_like,
                             _compare(study, arms, metrics, texts, references, None, rounds), labels)


@dataclass(frozen=True)
class LabelSupport:
    label: str
    candidate_id: int
    candidate: str
    summary: Summary  # tally, support rate with its Wilson interval, sign test
    p_adjusted: float | None  # the sign test's p, Holm-adjusted over the candidates
    significant: bool | None
    helped: str  # "helped" (candidate preferred), "hurt" (baseline preferred) or "no_difference"


def study_support_by_prompt_label(*, study: Study, arms: list[Arm], rows: list[dict]) -> list[LabelSupport]:
    """A pairwise study's support rate per label the prompts carry, per candidate; `rows` are study_vote_rows. Two
    queries (the prompts' labels)."""
    from evaluation.selectors import _candidate_outcome  # the one mapping of a vote to an outcome

    baseline = next((arm for arm in arms if arm.is_baseline), None)
    labelled = _labelled_prompts(study)
    if baseline is None or not labelled:
        return []
    outcomes: dict[tuple[str, int], list[str]] = defaultdict(list)
    for row in rows:
        if baseline.pk not in (row["left_arm"], row["right_arm"]):
            continue
        candidate = row["right_arm"] if row["left_arm"] == baseline.pk else row["left_arm"]
        outcome, _ = _candidate_outcome(row, candidate)
        for label, prompts in labelled.items():
            if row["comparison__prompt_id"] in prompts:
                outcomes[label, candidate].append(outcome)
    result = []
    candidates = [arm for arm in arms if not arm.is_baseline]
    for label in labelled:
        summaries = [summarize(tally_of(outcomes[label, c.pk])) for c in candidates]
        adjusted = holm_adjust([s.sign_test_p if s.votes else None for s in summaries])
        for candidate, summary, p in zip(candidates, summaries, adjusted):
            decided = significant(p, study.significance_level)
            helped = "no_difference" if not decided else "helped" if summary.wins > summary.losses else "hurt"
            result.append(LabelSupport(label, candidate.pk, candidate.name, summary, p, decided, helped))
    return result


__all__ = ["study_metric_comparisons", "study_support_by_prompt_label"]
