"""Reads of the evaluation app. Each owns its query shape; none grows with the number of rows it returns."""

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.access import scope_to_capability
from datahub.models import DatasetVersion
from evaluation.access import STUDY_VIEW_CAPABILITIES, scope_to_any_capability
from evaluation.models import Arm, Comparison, Study, Vote
from evaluation.statistics import Summary, Tally, summarize
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


def comparisons_open_for_rater(*, study: Study, rater) -> QuerySet:
    """Comparisons of an open study still waiting for this rater, in serving order.

    Shown only: not identical, fewer votes than the study wants, not already voted on by this rater.
    """
    if study.status != Study.Status.OPEN:
        return Comparison.objects.none()
    return (
        Comparison.objects.filter(study=study, is_identical=False, vote_count__lt=study.votes_per_comparison)
        .exclude(votes__rater=rater)
        .order_by("order")
    )


def comparison_next_for_rater(*, study: Study, rater) -> Comparison | None:
    """The next comparison this rater should judge, with its prompt and both answers loaded; None when done."""
    return comparisons_open_for_rater(study=study, rater=rater).select_related("prompt", "left_answer", "right_answer").first()


def studies_open_for_rater(*, rater) -> QuerySet:
    """Open studies the rater may vote in, each annotated with `remaining`: comparisons still waiting for this rater."""
    waiting = (
        Comparison.objects.filter(study=OuterRef("pk"), is_identical=False, vote_count__lt=OuterRef("votes_per_comparison"))
        .exclude(votes__rater=rater)
        .order_by()
        .values("study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        scope_to_capability(Study.objects.filter(status=Study.Status.OPEN), user=rater, capability="study.vote")
        .select_related("workspace")
        .annotate(remaining=Coalesce(Subquery(waiting, output_field=IntegerField()), Value(0)))
        .order_by("-created_at", "-pk")
    )


def study_arms(*, study: Study) -> list[Arm]:
    """The study's arms with their models, baseline first. For managers and result readers only."""
    return list(study.arms.select_related("base_model", "artifact").order_by("-is_baseline", "name"))


def study_counts(*, study: Study) -> dict:
    """prompts, comparisons, identical (never shown) and votes of a study, in one query each."""
    counts = Comparison.objects.filter(study=study).aggregate(
        comparisons=Count("pk"), identical=Count("pk", filter=Q(is_identical=True)), votes=Coalesce(Sum("vote_count"), 0),
    )
    counts["prompts"] = study.prompts.count()
    return counts


@dataclass(frozen=True)
class CandidateResult:
    baseline: Arm
    candidate: Arm
    summary: Summary


def study_results(*, study: Study, arms: list[Arm] | None = None) -> list[CandidateResult]:
    """For each candidate arm, its tally against the baseline and every figure derived from it.

    Votes are mapped back to arms through the left/right answers kept server-side: "left" is a win for the candidate
    when the candidate's answer was on the left. "both bad" is counted apart and treated as a tie by the statistics.
    """
    arms = study_arms(study=study) if arms is None else arms
    baseline = next((arm for arm in arms if arm.is_baseline), None)
    if baseline is None:
        return []
    counts: dict[int, dict[str, int]] = {arm.pk: {"wins": 0, "losses": 0, "ties": 0, "both_bad": 0} for arm in arms if not arm.is_baseline}
    rows = (
        Vote.objects.filter(comparison__study=study)
        .values("choice", "comparison__left_answer__arm_id", "comparison__right_answer__arm_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        left, right = row["comparison__left_answer__arm_id"], row["comparison__right_answer__arm_id"]
        candidate = right if left == baseline.pk else left
        if candidate not in counts:
            continue
        choice = row["choice"]
        if choice in (Vote.Choice.LEFT, Vote.Choice.RIGHT):
            preferred = left if choice == Vote.Choice.LEFT else right
            counts[candidate]["wins" if preferred == candidate else "losses"] += row["n"]
        elif choice == Vote.Choice.TIE:
            counts[candidate]["ties"] += row["n"]
        else:
            counts[candidate]["both_bad"] += row["n"]
    return [CandidateResult(baseline=baseline, candidate=arm, summary=summarize(Tally(**counts[arm.pk])))
            for arm in arms if not arm.is_baseline]


def study_model_choices(*, user) -> tuple[list[BaseModel], list[ModelArtifact]]:
    """Base models (by name) and model artifacts (newest first) of the workspaces where the user may create studies."""
    base_models = scope_to_capability(BaseModel.objects.all(), user=user, capability="study.manage").select_related("workspace")
    artifacts = scope_to_capability(ModelArtifact.objects.all(), user=user, capability="study.manage").select_related("workspace")
    return list(base_models.order_by("workspace__name", "name")), list(artifacts.order_by("workspace__name", "-created_at", "-pk"))


def study_dataset_version_choices(*, user) -> list[DatasetVersion]:
    """Frozen dataset versions of the workspaces where the user may create studies."""
    versions = scope_to_capability(DatasetVersion.objects.all(), user=user, capability="study.manage", workspace_path="dataset__workspace")
    return list(versions.select_related("dataset__workspace").order_by("dataset__workspace__name", "dataset__name", "-number"))


def _arm_row(arm: Arm) -> dict:
    model = arm.artifact if arm.artifact_id else arm.base_model
    return {"id": arm.pk, "name": arm.name, "is_baseline": arm.is_baseline,
            "model_kind": "artifact" if arm.artifact_id else "base_model", "model_id": model.pk, "model_name": model.name}


def study_arm_rows(*, study: Study) -> list[dict]:
    """The study's arms as plain data, naming their models. For managers and result readers only."""
    return [_arm_row(arm) for arm in study_arms(study=study)]


def study_report(*, study: Study) -> dict:
    """The results of a study as plain data (JSON-ready): arms revealed, counts, and per candidate every figure.

    For result readers only: it names the arms.
    """
    arms = study_arms(study=study)
    results = study_results(study=study, arms=arms)
    return {
        "study": {"id": study.pk, "name": study.name, "status": study.status, "question": study.question},
        "arms": [_arm_row(arm) for arm in arms],
        "counts": study_counts(study=study),
        "results": [{"baseline": r.baseline.name, "candidate": r.candidate.name, **r.summary.as_dict()} for r in results],
    }


def dataset_version_for_study(*, workspace, version_id: int) -> DatasetVersion | None:
    """A dataset version of `workspace` by id, or None (the same for missing and elsewhere)."""
    return DatasetVersion.objects.select_related("dataset").filter(pk=version_id, dataset__workspace=workspace).first()


def base_model_for_study(*, workspace, base_model_id: int) -> BaseModel | None:
    return BaseModel.objects.filter(pk=base_model_id, workspace=workspace).first()


def artifact_for_study(*, workspace, artifact_id: int) -> ModelArtifact | None:
    return ModelArtifact.objects.select_related("base_model").filter(pk=artifact_id, workspace=workspace).first()
