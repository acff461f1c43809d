"""Reads of dedupe runs, each owning its query shape."""

from django.db.models import Count, F, Prefetch, Q, QuerySet

from datahub.models import Dataset
from dedupe.models import DedupeCluster, DedupeDecision, DedupePair, DedupeRun

_RECORD = ("record_a__source", "record_b__source")


def dedupe_runs_for_dataset(*, dataset: Dataset) -> QuerySet[DedupeRun]:
    return (DedupeRun.objects.filter(dataset=dataset).select_related("version", "applied_version", "created_by")
            .order_by("-created_at", "-pk"))


def dedupe_runs_under_way(*, dataset: Dataset, limit: int) -> list[str]:
    """The dataset's queued or running dedupe runs, in words, for the dataset's in-use check (datahub)."""
    under_way = [DedupeRun.Status.QUEUED, DedupeRun.Status.RUNNING]
    rows = DedupeRun.objects.filter(dataset=dataset, status__in=under_way).values_list("pk", "status")[:limit]
    return [f"dedupe run {pk} ({status})" for pk, status in rows]


def dedupe_run_pairs(
    *, run: DedupeRun, duplicates_only: bool = False, leakage_only: bool = False
) -> QuerySet[DedupePair]:
    """The run's scored pairs, closest first; `leakage_only` keeps duplicate pairs whose records sit in different
    splits."""
    pairs = DedupePair.objects.filter(run=run).select_related(*_RECORD)
    if duplicates_only or leakage_only:
        pairs = pairs.filter(is_duplicate=True)
    if leakage_only:
        pairs = pairs.exclude(split_a="").exclude(split_b="").exclude(split_a=F("split_b"))
    return pairs.order_by("-similarity", "pk")


def dedupe_run_clusters(*, run: DedupeRun) -> QuerySet[DedupeCluster]:
    """Clusters largest first, each with its decisions (best-ranked first) and their records."""
    decisions = DedupeDecision.objects.select_related("record__source").order_by("rank")
    return (DedupeCluster.objects.filter(run=run).prefetch_related(Prefetch("decisions", queryset=decisions))
            .order_by("-size", "number"))


def dedupe_run_decisions_by_record(*, run: DedupeRun, record_ids: set[int]) -> dict[int, DedupeDecision]:
    """The run's decisions on `record_ids`, by record id (the records of the pairs a page shows)."""
    return {d.record_id: d for d in DedupeDecision.objects.filter(run=run, record_id__in=record_ids)}


def dedupe_run_decision_counts(*, run: DedupeRun) -> dict:
    return DedupeDecision.objects.filter(run=run).aggregate(
        drop=Count("pk", filter=Q(action="drop")), keep=Count("pk", filter=Q(action="keep")),
        overridden=Count("pk", filter=~Q(action=F("proposed_action"))))
