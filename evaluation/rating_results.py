"""The results of a blind 1–5 rating study, for result readers only (they name the arms): per-arm means with intervals,
paired tests of each candidate against the baseline with Holm's correction, agreement between raters, rater quality and
the breakdown by the labels the prompts carry. `study_rating_summary` is what the API, the pages, the command and the
scorecard read. A fixed number of queries, whatever the number of ratings."""

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from django.contrib.auth import get_user_model

from common.statistics import wilson_interval
from datahub.selectors import version_record_labels
from evaluation.models import Arm, RaterExclusion, Rating, Study
from evaluation.rating_queue import ratings_counted
from evaluation.statistics.multiple import holm_adjust, significant
from evaluation.statistics.ratings import (
    MeanInterval,
    PairedTests,
    mean_interval,
    paired_by_prompt,
    paired_tests,
    rating_alpha,
)

GOLD_TOLERANCE = 1  # a gold or repeat rating agrees when every criterion is within this many points


@dataclass(frozen=True)
class ArmRating:
    arm_id: int
    name: str
    is_baseline: bool
    criteria: dict[str, MeanInterval]


@dataclass(frozen=True)
class RatingComparison:
    """One candidate against the baseline on one criterion. `significant` is decided by the Holm-adjusted Wilcoxon
    p-value (the ratings are ordinal); the t-test is shown beside it."""

    candidate_id: int
    candidate: str
    criterion: str
    tests: PairedTests
    wilcoxon_p_adjusted: float | None
    t_test_p_adjusted: float | None
    significant: bool | None
    direction: str  # "better", "worse" or "same" (the sign of the mean difference)


@dataclass(frozen=True)
class RaterQuality:
    rater_id: int
    username: str
    ratings: int
    gold_ratings: int
    gold_agreement: float | None  # share of gold ratings within GOLD_TOLERANCE on every criterion
    gold_interval: tuple[float, float] | None
    repeats: int
    repeat_agreement: float | None  # share of repeats within GOLD_TOLERANCE of the rater's first rating
    flagged: bool  # gold agreement below the study's gold_threshold
    excluded: bool


@dataclass(frozen=True)
class LabelRating:
    label: str
    prompts: int
    arms: list[ArmRating]
    comparisons: list[RatingComparison]
    helped: dict[int, str]  # candidate arm id → "helped", "hurt", "mixed" or "no_difference"


@dataclass(frozen=True)
class RatingSummary:
    study_id: int
    criteria: list[str]
    significance_level: float
    confidence: float
    counted_ratings: int
    raters: int
    arms: list[ArmRating]
    comparisons: list[RatingComparison]
    agreement: dict[str, float | None]  # criterion → Krippendorff's ordinal alpha
    rater_quality: list[RaterQuality]
    labels: list[LabelRating] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def comparison(self, candidate_id: int, criterion: str) -> RatingComparison | None:
        return next((c for c in self.comparisons if c.candidate_id == candidate_id and c.criterion == criterion), None)


def _arm_ratings(arms: list[Arm], criteria: list[str], scores: dict[str, dict], prompts: set[int] | None,
                 confidence: float) -> list[ArmRating]:
    rows = []
    for arm in arms:
        by_criterion = {}
        for criterion in criteria:
            values = [v for (p, a), v in sorted(scores[criterion].items()) if a == arm.pk
                      and (prompts is None or p in prompts)]
            by_criterion[criterion] = mean_interval(values, confidence=confidence)
        rows.append(ArmRating(arm.pk, arm.name, arm.is_baseline, by_criterion))
    return rows


def _comparisons(arms: list[Arm], criteria: list[str], scores: dict[str, dict], prompts: set[int] | None,
                 level: float) -> list[RatingComparison]:
    baseline = next(arm for arm in arms if arm.is_baseline)
    candidates = [arm for arm in arms if not arm.is_baseline]
    result = []
    for criterion in criteria:
        tests = [paired_tests(*paired_by_prompt(scores[criterion], candidate=c.pk, baseline=baseline.pk,
                                                prompts=None if prompts is None else sorted(prompts)))
                 for c in candidates]
        wilcoxon = holm_adjust([t.wilcoxon_p for t in tests])
        t_tests = holm_adjust([t.t_test_p for t in tests])
        for candidate, test, w, t in zip(candidates, tests, wilcoxon, t_tests):
            difference = test.mean_difference or 0.0
            direction = "better" if difference > 0 else "worse" if difference < 0 else "same"
            result.append(RatingComparison(candidate.pk, candidate.name, criterion, test, w, t,
                                           significant(w, level), direction))
    return result


def _helped(comparisons: list[RatingComparison], candidate_id: int) -> str:
    decided = {c.direction for c in comparisons if c.candidate_id == candidate_id and c.significant}
    if decided == {"better"}:
        return "helped"
    if decided == {"worse"}:
        return "hurt"
    return "mixed" if decided else "no_difference"


def _rater_quality(study: Study, criteria: list[str], rows: list, excluded: set[int]) -> list[RaterQuality]:
    first: dict[tuple[int, int], dict] = {}
    for item_id, repeat_of, rater_id, item_scores, _, _ in rows:
        if repeat_of is None:
            first[item_id, rater_id] = item_scores

    def close(a: dict, b: dict) -> bool:
        return all(abs(a[c] - b[c]) <= GOLD_TOLERANCE for c in criteria if c in a and c in b)

    tallies: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # ratings, gold, gold ok, repeats, repeat ok
    for item_id, repeat_of, rater_id, item_scores, gold, _ in rows:
        tally = tallies[rater_id]
        if repeat_of is not None:
            original = first.get((repeat_of, rater_id))
            if original is not None:
                tally[3] += 1
                tally[4] += close(item_scores, original)
            continue
        tally[0] += 1
        if gold is not None:
            tally[1] += 1
            tally[2] += close(item_scores, gold)
    names = dict(get_user_model().objects.filter(pk__in=list(tallies)).values_list("pk", "username"))
    quality = []
    for rater_id in sorted(tallies, key=lambda r: names.get(r, "")):
        ratings, gold, gold_ok, repeats, repeat_ok = tallies[rater_id]
        agreement = gold_ok / gold if gold else None
        quality.append(RaterQuality(
            rater_id, names.get(rater_id, ""), ratings, gold, agreement,
            wilson_interval(gold_ok, gold) if gold else None,
            repeats, repeat_ok / repeats if repeats else None,
            agreement is not None and agreement < study.gold_threshold, rater_id in excluded))
    return quality


def _prompt_labels(study: Study) -> dict[int, list[str]]:
    """Prompt id → the labels its record carries in the study's version (and the record's tags). Two queries."""
    if study.dataset_version_id is None:
        return {}
    record_of = dict(study.prompts.exclude(record_id=None).values_list("pk", "record_id"))
    labels = version_record_labels(version_id=study.dataset_version_id, record_ids=set(record_of.values()))
    return {prompt: labels.get(record, []) for prompt, record in record_of.items()}


def study_rating_summary(*, study: Study, arms: list[Arm] | None = None) -> RatingSummary:
    """Everything a rating study's results say. Precondition: study.kind == "rating". Seven queries: the arms, the
    counted ratings, every rating (rater quality), the exclusions, the raters' names, the prompts' records and their
    labels."""
    arms = list(study.arms.order_by("-is_baseline", "name")) if arms is None else arms
    criteria = [criterion["name"] for criterion in study.rubric]
    level = study.significance_level
    counted = list(ratings_counted(study=study).values_list("item__prompt_id", "item__answer__arm_id", "item_id",
                                                            "rater_id", "scores"))
    scores: dict[str, dict] = {}
    for criterion in criteria:
        by_key: dict[tuple[int, int], list[int]] = defaultdict(list)
        for prompt_id, arm_id, _, _, item_scores in counted:
            if arm_id is not None and criterion in item_scores:
                by_key[prompt_id, arm_id].append(item_scores[criterion])
        scores[criterion] = {key: sum(v) / len(v) for key, v in by_key.items()}
    units: dict[str, dict[int, list[int]]] = {c: defaultdict(list) for c in criteria}
    for _, _, item_id, _, item_scores in counted:
        for criterion in criteria:
            if criterion in item_scores:
                units[criterion][item_id].append(item_scores[criterion])
    agreement = {c: rating_alpha(list(units[c].values())) for c in criteria}
    all_rows = list(Rating.objects.filter(item__study=study).order_by("pk").values_list(
        "item_id", "item__repeat_of_id", "rater_id", "scores", "item__gold_scores", "pk"))
    excluded = set(RaterExclusion.objects.filter(study=study).values_list("rater_id", flat=True))
    confidence = 1 - level
    labels = []
    prompt_labels = _prompt_labels(study)
    by_label: dict[str, set[int]] = defaultdict(set)
    for prompt, names in prompt_labels.items():
        for name in names:
            by_label[name].add(prompt)
    for label in sorted(by_label):
        prompts = by_label[label]
        comparisons = _comparisons(arms, criteria, scores, prompts, level)
        labels.append(LabelRating(label, len(prompts), _arm_ratings(arms, criteria, scores, prompts, confidence),
                                  comparisons, {a.pk: _helped(comparisons, a.pk) for a in arms if not a.is_baseline}))
    return RatingSummary(
        study_id=study.pk, criteria=criteria, significance_level=level, confidence=confidence,
        counted_ratings=len(counted), raters=len({row[3] for row in counted}),
        arms=_arm_ratings(arms, criteria, scores, None, confidence),
        comparisons=_comparisons(arms, criteria, scores, None, level), agreement=agreement,
        rater_quality=_rater_quality(study, criteria, all_rows, excluded), labels=labels)


def rating_item_for_manager(*, study: Study, item_id: int):
    """One of the study's rating items, for its manager (404 when it is another study's)."""
    from django.http import Http404

    from evaluation.models import RatingItem

    item = RatingItem.objects.filter(study=study, pk=item_id).select_related("study").first()
    if item is None:
        raise Http404
    return item


def rating_counts(*, study: Study) -> dict:
    """items (regular), gold, repeats and ratings (all) of a rating study, in one query."""
    from django.db.models import Count, Q, Sum
    from django.db.models.functions import Coalesce

    from evaluation.models import RatingItem

    return RatingItem.objects.filter(study=study).aggregate(
        items=Count("pk", filter=Q(gold_scores__isnull=True, repeat_of__isnull=True)),
        gold=Count("pk", filter=Q(gold_scores__isnull=False, repeat_of__isnull=True)),
        repeats=Count("pk", filter=Q(repeat_of__isnull=False)), ratings=Coalesce(Sum("rating_count"), 0))
