"""Reads of augmentation, mixing and grading, each owning its query shape."""

from django.db.models import Count, QuerySet

from augmentation.models import (
    AugmentationCandidate,
    AugmentationRun,
    GradingRun,
    JobStatus,
    MixRun,
    RecordGrade,
    SynonymTable,
)

HISTOGRAM_BINS = 10


def augmentation_runs_of_dataset(*, dataset) -> QuerySet:
    return (
        AugmentationRun.objects.filter(version__dataset=dataset)
        .select_related("version", "result_version", "created_by")
        .order_by("-created_at", "-pk")
    )


def candidate_list(*, run: AugmentationRun, decision: str | None = None, passing: bool | None = None) -> QuerySet:
    """A run's candidates with their parents, in generation order."""
    candidates = AugmentationCandidate.objects.filter(run=run).select_related("parent").order_by("pk")
    if decision:
        candidates = candidates.filter(decision=decision)
    if passing is not None:
        candidates = candidates.filter(is_passing=passing)
    return candidates


def candidate_summary(*, run: AugmentationRun) -> dict:
    """Counts by reason and by decision, for the review header."""
    by_reason = dict(
        AugmentationCandidate.objects.filter(run=run)
        .values_list("reason")
        .annotate(n=Count("pk"))
        .values_list("reason", "n")
    )
    by_decision = dict(AugmentationCandidate.objects.filter(run=run).values_list("decision").annotate(n=Count("pk"))
                       .values_list("decision", "n"))
    return {"by_reason": dict(sorted(by_reason.items())), "by_decision": by_decision}


def mix_runs_of_dataset(*, dataset) -> QuerySet:
    return MixRun.objects.filter(dataset=dataset).select_related("result_version").order_by("-created_at", "-pk")


def augmentation_work_under_way(*, dataset, limit: int) -> list[str]:
    """The dataset's queued or running augmentation and mix runs, in words, for the dataset's in-use check (datahub)."""
    running = [JobStatus.QUEUED, JobStatus.RUNNING]
    augmenting = AugmentationRun.objects.filter(version__dataset=dataset, status__in=running)
    mixing = MixRun.objects.filter(dataset=dataset, status__in=running)
    return (
        [f"augmentation run {pk} ({status})" for pk, status in augmenting.values_list("pk", "status")[:limit]]
        + [f"mix run {pk} ({status})" for pk, status in mixing.values_list("pk", "status")[:limit]]
    )


def grading_runs_of_source(*, source) -> QuerySet:
    return GradingRun.objects.filter(source=source).select_related("endpoint").order_by("-created_at", "-pk")


def synonym_tables_of_workspace(*, workspace_id: int) -> QuerySet:
    return SynonymTable.objects.filter(workspace_id=workspace_id).order_by("name")


def source_quality_report(*, source, worst: int = 20) -> dict:
    """The latest finished grading of the source: a score histogram (10 bins over 0-1), the worst records with
    reasons, failures, mean and suggested tier. Empty when the source was never graded."""
    run = GradingRun.objects.filter(source=source, status="succeeded").order_by("-created_at", "-pk").first()
    if run is None:
        return {"run": None, "histogram": [0] * HISTOGRAM_BINS, "worst": [], "failures": []}
    histogram = [0] * HISTOGRAM_BINS
    for score in (
        RecordGrade.objects.filter(run=run, score__isnull=False)
        .values_list("score", flat=True)
        .iterator(chunk_size=5000)
    ):
        histogram[min(HISTOGRAM_BINS - 1, int(score * HISTOGRAM_BINS))] += 1
    worst_grades = list(
        RecordGrade.objects.filter(run=run, score__isnull=False)
        .select_related("record")
        .order_by("score", "record_id")[:worst]
    )
    failures = list(
        RecordGrade.objects.filter(run=run, score__isnull=True).select_related("record").order_by("record_id")[:worst]
    )
    return {"run": run, "histogram": histogram, "worst": worst_grades, "failures": failures}
