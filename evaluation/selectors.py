"""Reads of the evaluation app. Each owns its query shape; none grows with the number of rows it returns."""

from dataclasses import dataclass
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Length
from django.http import Http404

from accounts.access import scope_to_capability
from common.simulation import rule_description
from datahub.models import DatasetVersion, Record
from evaluation.access import STUDY_VIEW_CAPABILITIES, scope_to_any_capability
from evaluation.metrics import Metrics, automatic_metrics
from evaluation.models import Answer, Arm, Comparison, Judge, JudgeVerdict, Study, Vote
from evaluation.queue import (  # noqa: F401  (re-exported: the serving order lives in queue.py)
    comparisons_open_for_rater,
    comparisons_waiting_for_rater,
    votes_counted,
    votes_counted_in,
    waiting_count,
)
from evaluation.reliability import RaterReliability, study_rater_reliability
from evaluation.statistics import (
    BOTH_BAD,
    LOSS,
    OUTCOME_SCORE,
    TIE,
    WIN,
    Agreement,
    LengthControl,
    Rating,
    Summary,
    bootstrap_support_interval,
    bradley_terry_ratings,
    label_breakdown,
    length_controlled_rate,
    rater_agreement,
    summarize,
    tally_of,
)
from llm.models import ModelEndpoint
from training.models import BaseModel, ModelArtifact


def study_list_for_user(*, user) -> QuerySet:
    """Studies the user manages or reads results of, and open studies the user may vote in (newest first)."""
    viewable = scope_to_any_capability(Study.objects.all(), user=user, capabilities=STUDY_VIEW_CAPABILITIES)
    votable = scope_to_capability(Study.objects.filter(status=Study.Status.OPEN), user=user, capability="study.vote")
    return (viewable | votable).select_related("workspace", "dataset_version__dataset").order_by("-created_at", "-pk")


def study_list_viewable(*, user) -> QuerySet:
    """Studies the user manages or reads results of (newest first)."""
    return (
        scope_to_any_capability(Study.objects.all(), user=user, capabilities=STUDY_VIEW_CAPABILITIES)
        .select_related("workspace", "dataset_version__dataset")
        .order_by("-created_at", "-pk")
    )


def studies_open_for_rater(*, rater) -> QuerySet:
    """Open studies the rater may vote in, each annotated with `remaining`: comparisons still waiting for this rater
    (regular, gold and repeats alike: evaluation/queue.py)."""
    waiting = (
        comparisons_waiting_for_rater(rater=rater)
        .filter(study=OuterRef("pk"))
        .order_by()
        .values("study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    from evaluation.rating_queue import items_waiting_for_rater  # a rating study waits with answers to rate

    rating = (items_waiting_for_rater(rater=rater).filter(study=OuterRef("pk")).order_by().values("study")
              .annotate(n=Count("pk")).values("n"))
    return (
        scope_to_capability(Study.objects.filter(status=Study.Status.OPEN), user=rater, capability="study.vote")
        .select_related("workspace")
        .annotate(remaining=Coalesce(Subquery(waiting, output_field=IntegerField()), Value(0))
                  + Coalesce(Subquery(rating, output_field=IntegerField()), Value(0)))
        .order_by("-created_at", "-pk")
    )


def study_arms(*, study: Study) -> list[Arm]:
    """The study's arms with their models, baseline first. For managers and result readers only."""
    return list(study.arms.select_related("base_model", "artifact", "endpoint").order_by("-is_baseline", "name"))


def study_counts(*, study: Study) -> dict:
    """prompts (not gold uploads), comparisons (regular: the arms against each other), identical (never shown), gold
    and repeat comparisons, votes (all) and counted_votes (what the results count: votes_counted), in three queries."""
    regular = Q(gold_answer__isnull=True, repeat_of__isnull=True)
    counts = Comparison.objects.filter(study=study).aggregate(
        comparisons=Count("pk", filter=regular), identical=Count("pk", filter=Q(is_identical=True)),
        gold=Count("pk", filter=Q(gold_answer__isnull=False, repeat_of__isnull=True)),
        repeats=Count("pk", filter=Q(repeat_of__isnull=False)), votes=Coalesce(Sum("vote_count"), 0),
    )
    counts["prompts"] = study.prompts.filter(is_gold=False).count()
    counts["counted_votes"] = votes_counted(study=study).count()
    return counts


def study_simulated_votes(*, study: Study) -> list[dict]:
    """Per common.simulation rule that voted in the study: {"rule", "description", "votes"}, most votes first; empty
    when only people voted. One query."""
    rows = (Vote.objects.filter(comparison__study=study).exclude(simulated_by="").values("simulated_by")
            .annotate(votes=Count("pk")).order_by("-votes", "simulated_by"))
    return [{"rule": row["simulated_by"], "description": rule_description(row["simulated_by"]), "votes": row["votes"]}
            for row in rows]


class LabelResult(NamedTuple):
    label: str
    summary: Summary


@dataclass(frozen=True)
class CandidateResult:
    """Every figure of one candidate against the baseline, as numbers: the API serialises these objects and the pages
    format them with the template filters of frontend/templatetags/figures.py; nothing else shapes them."""

    baseline: Arm
    candidate: Arm
    summary: Summary  # tally, Wilson interval, sign test, verdict
    bootstrap_low: float | None  # prompt-level bootstrap 95% interval of the support rate
    bootstrap_high: float | None
    agreement: Agreement  # between raters who judged the same comparison
    length: LengthControl  # length-controlled support rate, and how often the longer answer won
    labels: dict[str, Summary]  # per vote label, sorted; unlabelled votes are left out

    @property
    def label_results(self) -> list[LabelResult]:
        return [LabelResult(label, summary) for label, summary in self.labels.items()]


def study_vote_rows(*, study: Study) -> list[dict]:
    """Every counted vote of the study (votes_counted: no gold, no repeats, no excluded rater) with its arms, prompt,
    label and both answers' lengths (in characters), in one query."""
    return study_vote_rows_by_study(study_ids=[study.pk]).get(study.pk, [])


def study_vote_rows_by_study(*, study_ids: list[int]) -> dict[int, list[dict]]:
    """study_vote_rows of several studies, by study id, in one query."""
    rows = votes_counted_in(study_ids=study_ids).values(
        "choice", "label", "comparison_id", "comparison__prompt_id", study_id=F("comparison__study_id"),
        left_arm=F("comparison__left_answer__arm_id"), right_arm=F("comparison__right_answer__arm_id"),
        left_length=Length("comparison__left_answer__text"), right_length=Length("comparison__right_answer__text"),
    ).order_by("pk")
    grouped: dict[int, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row.pop("study_id"), []).append(row)
    return grouped


def _candidate_outcome(row: dict, candidate_id: int) -> tuple[str, int]:
    """(outcome for the candidate, candidate's answer length minus the other's) of one vote row."""
    candidate_left = row["left_arm"] == candidate_id
    difference = row["left_length"] - row["right_length"]
    choice = row["choice"]
    if choice in (Vote.Choice.LEFT, Vote.Choice.RIGHT):
        outcome = WIN if (choice == Vote.Choice.LEFT) == candidate_left else LOSS
    else:
        outcome = TIE if choice == Vote.Choice.TIE else BOTH_BAD
    return outcome, difference if candidate_left else -difference


def study_results(
    *, study: Study, arms: list[Arm] | None = None, rows: list[dict] | None = None
) -> list[CandidateResult]:
    """For each candidate arm, every figure of its votes against the baseline.

    Votes are mapped back to arms through the left/right answers kept server-side: "left" is a win for the candidate
    when the candidate's answer was on the left. "both bad" is counted apart and treated as a tie by the statistics.
    The bootstrap is seeded by the study's seed, so a page shows the same interval on every load. `rows` are the
    study's study_vote_rows when the caller already has them.
    """
    arms = study_arms(study=study) if arms is None else arms
    baseline = next((arm for arm in arms if arm.is_baseline), None)
    if baseline is None:
        return []
    per_candidate: dict[int, list[tuple]] = {arm.pk: [] for arm in arms if not arm.is_baseline}
    for row in study_vote_rows(study=study) if rows is None else rows:
        if baseline.pk not in (row["left_arm"], row["right_arm"]):
            continue
        candidate = row["right_arm"] if row["left_arm"] == baseline.pk else row["left_arm"]
        if candidate in per_candidate:
            outcome, difference = _candidate_outcome(row, candidate)
            per_candidate[candidate].append(
                (outcome, difference, row["comparison__prompt_id"], row["comparison_id"], row["label"])
            )
    results = []
    for arm in arms:
        if arm.is_baseline:
            continue
        votes = per_candidate[arm.pk]
        outcomes = [v[0] for v in votes]
        scores = [OUTCOME_SCORE[o] for o in outcomes]
        interval = bootstrap_support_interval([v[2] for v in votes], scores, seed=study.seed) or (None, None)
        results.append(CandidateResult(
            baseline=baseline, candidate=arm, summary=summarize(tally_of(outcomes)),
            bootstrap_low=interval[0], bootstrap_high=interval[1],
            agreement=rater_agreement([v[3] for v in votes], outcomes),
            length=length_controlled_rate(scores, [v[1] for v in votes]),
            labels=label_breakdown([v[4] for v in votes], outcomes),
        ))
    return results


class ArmMetrics(NamedTuple):
    arm: Arm
    metrics: Metrics


def study_metrics(*, study: Study, arms: list[Arm] | None = None) -> list[ArmMetrics]:
    """Per arm, exact match, BLEU and ROUGE-L of its answers against the reference answers of the prompts' records
    (the final assistant turn, or a preference record's chosen answer). Prompts without a reference (uploads, records
    without an answer) are left out; three queries whatever the size.
    """
    arms = study_arms(study=study) if arms is None else arms
    record_ids = dict(study.prompts.exclude(record_id=None).values_list("pk", "record_id"))
    records = Record.objects.in_bulk(set(record_ids.values()))
    references = {prompt: records[record].response_text for prompt, record in record_ids.items() if record in records}
    references = {prompt: text for prompt, text in references.items() if text.strip()}
    answers: dict[int, list[tuple[str, str]]] = {arm.pk: [] for arm in arms}
    for arm_id, prompt_id, text in Answer.objects.filter(prompt__study=study).order_by("prompt__order").values_list(
            "arm_id", "prompt_id", "text"):
        if prompt_id in references and arm_id in answers:
            answers[arm_id].append((text, references[prompt_id]))
    return [
        ArmMetrics(
            arm, automatic_metrics([answer for answer, _ in answers[arm.pk]], [ref for _, ref in answers[arm.pk]])
        )
        for arm in arms
    ]


class JudgeCandidate(NamedTuple):
    arm: Arm
    summary: Summary


@dataclass(frozen=True)
class JudgeResult:
    judge: Judge
    verdicts: int
    invalid: int  # replies with no readable verdict in either order (counted as ties below)
    flipped: int  # verdicts that changed side with the order (counted as ties)
    candidates: list[JudgeCandidate]  # each candidate's figures against the baseline by this judge
    human_pairs: int  # human votes on comparisons the judge also judged
    human_agreement: float | None  # share of those votes with the judge's outcome (tie and both bad as tie)
    human_decisive_pairs: int  # of those, votes where both the human and the judge picked a side
    human_decisive_agreement: float | None


def study_judge_results(
    *, study: Study, arms: list[Arm] | None = None, rows: list[dict] | None = None
) -> list[JudgeResult]:
    """Every LLM judge of the study with its verdicts turned into figures, and its agreement with human votes on the
    same comparisons. Three queries whatever the number of judges and verdicts (plus the vote rows, unless given)."""
    arms = study_arms(study=study) if arms is None else arms
    baseline = next((arm for arm in arms if arm.is_baseline), None)
    judges = list(study.judges.select_related("endpoint").order_by("pk"))
    if not judges or baseline is None:
        return []
    rows = study_vote_rows(study=study) if rows is None else rows
    human: dict[int, list[str]] = {}
    for row in rows:
        human.setdefault(row["comparison_id"], []).append(
            row["choice"] if row["choice"] in (Vote.Choice.LEFT, Vote.Choice.RIGHT) else Vote.Choice.TIE)
    verdicts: dict[int, list[dict]] = {judge.pk: [] for judge in judges}
    for verdict in JudgeVerdict.objects.filter(judge__study=study).values(
            "judge_id", "comparison_id", "shown_order", "swapped_order", "outcome",
            left_arm=F("comparison__left_answer__arm_id"), right_arm=F("comparison__right_answer__arm_id")):
        verdicts[verdict["judge_id"]].append(verdict)
    by_id = {arm.pk: arm for arm in arms}
    results = []
    for judge in judges:
        outcomes: dict[int, list[str]] = {arm.pk: [] for arm in arms if not arm.is_baseline}
        pairs = agree = decisive_pairs = decisive_agree = flipped = 0
        for v in verdicts[judge.pk]:
            judged = JudgeVerdict.Outcome.TIE if v["outcome"] == JudgeVerdict.Outcome.INVALID else v["outcome"]
            flipped += {v["shown_order"], v["swapped_order"]} == {JudgeVerdict.Outcome.LEFT, JudgeVerdict.Outcome.RIGHT}
            candidate = v["right_arm"] if v["left_arm"] == baseline.pk else v["left_arm"]
            if candidate in outcomes:
                candidate_left = v["left_arm"] == candidate
                outcomes[candidate].append(
                    TIE if judged == "tie" else WIN if (judged == "left") == candidate_left else LOSS
                )
            for choice in human.get(v["comparison_id"], []):
                pairs += 1
                agree += choice == judged
                if choice != "tie" and judged != "tie":
                    decisive_pairs += 1
                    decisive_agree += choice == judged
        results.append(JudgeResult(
            judge=judge, verdicts=len(verdicts[judge.pk]),
            invalid=sum(v["outcome"] == JudgeVerdict.Outcome.INVALID for v in verdicts[judge.pk]), flipped=flipped,
            candidates=[JudgeCandidate(by_id[pk], summarize(tally_of(o))) for pk, o in outcomes.items()],
            human_pairs=pairs, human_agreement=agree / pairs if pairs else None, human_decisive_pairs=decisive_pairs,
            human_decisive_agreement=decisive_agree / decisive_pairs if decisive_pairs else None,
        ))
    return results


CHOICE_SCORE = {Vote.Choice.LEFT: 1.0, Vote.Choice.RIGHT: 0.0, Vote.Choice.TIE: 0.5, Vote.Choice.BOTH_BAD: 0.5}


def study_ranking(*, study: Study, arms: list[Arm] | None = None, rows: list[dict] | None = None) -> list[Rating]:
    """Every arm's Bradley–Terry rating on the Elo scale from all votes, with bootstrap intervals (resampling prompts,
    seeded by the study's seed) and ranks, best first; each Rating's `model` is the Arm. Empty without votes.

    Comparisons pair each candidate with the baseline, so candidates are ranked through the shared baseline; the L2
    prior keeps an arm that never wins finite.
    """
    arms = study_arms(study=study) if arms is None else arms
    rows = study_vote_rows(study=study) if rows is None else rows
    if not rows:
        return []
    by_id = {arm.pk: arm for arm in arms}
    return bradley_terry_ratings(
        [by_id[r["left_arm"]] for r in rows],
        [by_id[r["right_arm"]] for r in rows],
        [CHOICE_SCORE[r["choice"]] for r in rows],
        prompts=[r["comparison__prompt_id"] for r in rows],
        seed=study.seed,
        models=arms,
    )


def study_model_choices(*, user) -> tuple[list[BaseModel], list[ModelArtifact]]:
    """Base models (by name) and model artifacts (newest first) of the workspaces where the user may create studies."""
    base_models = scope_to_capability(BaseModel.objects.all(), user=user, capability="study.manage").select_related(
        "workspace"
    )
    artifacts = scope_to_capability(ModelArtifact.objects.all(), user=user, capability="study.manage").select_related(
        "workspace"
    )
    return list(base_models.order_by("workspace__name", "name")), list(
        artifacts.order_by("workspace__name", "-created_at", "-pk")
    )


def study_judge_endpoint_choices(*, study: Study) -> list[ModelEndpoint]:
    """Model endpoints of the study's workspace, by name: what may judge it."""
    return list(ModelEndpoint.objects.filter(workspace=study.workspace).order_by("name"))


def study_endpoint_choices(*, user) -> list[ModelEndpoint]:
    """Model endpoints (by name) of the workspaces where the user may both create studies and use endpoints."""
    endpoints = scope_to_capability(ModelEndpoint.objects.all(), user=user, capability="study.manage")
    endpoints = scope_to_capability(endpoints, user=user, capability="model_endpoints.use")
    return list(endpoints.select_related("workspace").order_by("workspace__name", "name"))


def study_dataset_version_choices(*, user) -> list[DatasetVersion]:
    """Frozen dataset versions of the workspaces where the user may create studies."""
    versions = scope_to_capability(
        DatasetVersion.objects.all(), user=user, capability="study.manage", workspace_path="dataset__workspace"
    )
    return list(
        versions.select_related("dataset__workspace").order_by("dataset__workspace__name", "dataset__name", "-number")
    )


def arm_model_kind(arm: Arm) -> str:
    """"base_model", "artifact" or "endpoint": which one model the arm holds."""
    return "artifact" if arm.artifact_id else "endpoint" if arm.endpoint_id else "base_model"


def _arm_row(arm: Arm) -> dict:
    kind = arm_model_kind(arm)
    model = getattr(arm, kind)
    return {"id": arm.pk, "name": arm.name, "is_baseline": arm.is_baseline, "model_kind": kind, "model_id": model.pk,
            "model_name": model.name}


def study_arm_rows(*, study: Study) -> list[dict]:
    """The study's arms as plain data, naming their models. For managers and result readers only."""
    return [_arm_row(arm) for arm in study_arms(study=study)]


@dataclass(frozen=True)
class StudyReport:
    """The results of a study: arms revealed, counts, per candidate every figure, with more than two arms the
    Bradley–Terry ranking (empty otherwise: with two arms it is the support rate), each arm's automatic metrics against
    the reference answers, the LLM judges and every rater's reliability. For result readers only: it names the arms
    and the raters."""

    study: Study
    arms: list[Arm]
    counts: dict
    results: list[CandidateResult]
    ranking: list[Rating]  # each Rating's `model` is the Arm
    metrics: list[ArmMetrics]
    judges: list[JudgeResult]
    raters: list[RaterReliability]
    simulated_votes: list[dict]  # per simulation rule that voted: {"rule", "description", "votes"}

    @property
    def arm_rows(self) -> list[dict]:
        return [_arm_row(arm) for arm in self.arms]

    @property
    def has_labels(self) -> bool:
        return any(result.labels for result in self.results)

    @property
    def has_metrics(self) -> bool:
        """Whether any arm has an answer with a reference to score."""
        return any(entry.metrics.count for entry in self.metrics)

    @property
    def raters_excluded(self) -> int:
        return sum(rater.excluded for rater in self.raters)


def study_report(*, study: Study, arms: list[Arm] | None = None, counts: dict | None = None) -> StudyReport:
    """Every result of `study` (StudyReport); `arms` (study_arms) and `counts` (study_counts) when the caller has them.
    A fixed number of queries whatever the number of votes, arms, judges and raters."""
    arms = study_arms(study=study) if arms is None else arms
    rows = study_vote_rows(study=study)
    return StudyReport(
        study=study, arms=arms, counts=study_counts(study=study) if counts is None else counts,
        results=study_results(study=study, arms=arms, rows=rows),
        ranking=study_ranking(study=study, arms=arms, rows=rows) if len(arms) > 2 else [],
        metrics=study_metrics(study=study, arms=arms),
        judges=study_judge_results(study=study, arms=arms, rows=rows),
        raters=study_rater_reliability(study=study),
        simulated_votes=study_simulated_votes(study=study),
    )


def study_comparisons_for_manager(*, study: Study, gold_only: bool = False) -> QuerySet:
    """The study's comparisons other than side-swapped repeats, arms and answers loaded, annotated with `gold_side`
    ("left", "right" or None) and `has_repeat`; gold first, then in serving order. For managers only: it names arms."""
    queryset = (
        Comparison.objects.filter(study=study, repeat_of__isnull=True)
        .select_related("prompt", "left_answer__arm", "right_answer__arm")
        .annotate(
            gold_side=Case(
                When(gold_answer=F("left_answer"), then=Value("left")),
                When(gold_answer=F("right_answer"), then=Value("right")),
                default=None,
                output_field=CharField(),
            ),
            has_repeat=Exists(Comparison.objects.filter(repeat_of=OuterRef("pk"))),
        )
    )
    if gold_only:
        queryset = queryset.filter(gold_answer__isnull=False)
    return queryset.order_by(F("gold_answer").asc(nulls_last=True), "order")


def comparison_for_manager(*, study: Study, comparison_id: int) -> Comparison:
    """One comparison of `study` as study_comparisons_for_manager gives it; Http404 when it is not there."""
    comparison = study_comparisons_for_manager(study=study).filter(pk=comparison_id).first()
    if comparison is None:
        raise Http404
    return comparison


def rater_of_study(*, study: Study, rater_id: int):
    """A user who voted in `study`, or None."""
    return get_user_model().objects.filter(pk=rater_id, votes__comparison__study=study).distinct().first()


def dataset_version_for_study(*, workspace, version_id: int) -> DatasetVersion | None:
    """A dataset version of `workspace` by id, or None (the same for missing and elsewhere)."""
    return DatasetVersion.objects.select_related("dataset").filter(pk=version_id, dataset__workspace=workspace).first()


def base_model_for_study(*, workspace, base_model_id: int) -> BaseModel | None:
    return BaseModel.objects.filter(pk=base_model_id, workspace=workspace).first()


def endpoint_for_study(*, workspace, endpoint_id: int) -> ModelEndpoint | None:
    return ModelEndpoint.objects.filter(pk=endpoint_id, workspace=workspace).first()


def artifact_for_study(*, workspace, artifact_id: int) -> ModelArtifact | None:
    return ModelArtifact.objects.select_related("base_model").filter(pk=artifact_id, workspace=workspace).first()
