"""Reads for the datahub. Each selector owns its query shape, so list pages cost a fixed number of queries."""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.access import scope_to_capability
from accounts.models import Workspace
from datahub.access import VIEW
from datahub.models import Dataset, DatasetVersion, ImportJob, Record, Source, VersionRecord


def _count_of(queryset: QuerySet, field: str) -> Coalesce:
    """A correlated COUNT(*) subquery: one per row, but no JOIN fan-out between two counts."""
    counted = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def workspace_list_for(*, user, capability: str) -> QuerySet[Workspace]:
    """Workspaces where the user holds `capability` (for the workspace choice of a create form)."""
    return scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk").order_by("name")


def source_list(*, user, workspace: Workspace | None = None) -> QuerySet[Source]:
    sources = scope_to_capability(Source.objects.select_related("workspace"), user=user, capability=VIEW)
    if workspace is not None:
        sources = sources.filter(workspace=workspace)
    return sources.annotate(record_count=_count_of(Record.objects.all(), "source")).order_by("workspace__name", "name")


def source_choices(*, workspace: Workspace) -> QuerySet[Source]:
    return Source.objects.filter(workspace=workspace).order_by("name")


def source_in_workspace(*, workspace: Workspace, source_id) -> Source | None:
    return Source.objects.filter(workspace=workspace, pk=source_id).first() if str(source_id).isdigit() else None


def _datasets_counted() -> QuerySet[Dataset]:
    return Dataset.objects.select_related("workspace").annotate(
        record_count=_count_of(Record.objects.all(), "dataset"),
        version_count=_count_of(DatasetVersion.objects.all(), "dataset"),
    )


def dataset_list(*, user, workspace: Workspace | None = None) -> QuerySet[Dataset]:
    datasets = scope_to_capability(_datasets_counted(), user=user, capability=VIEW)
    if workspace is not None:
        datasets = datasets.filter(workspace=workspace)
    return datasets.order_by("workspace__name", "name")


def dataset_with_counts(*, dataset: Dataset) -> Dataset:
    """The dataset again, with record_count and version_count, in one query."""
    return _datasets_counted().get(pk=dataset.pk)


def workspace_by_name(*, name: str) -> Workspace | None:
    return Workspace.objects.filter(name=name).first()


def source_by_name(*, workspace: Workspace, name: str) -> Source | None:
    return Source.objects.filter(workspace=workspace, name=name).first()


def dataset_by_name(*, workspace_name: str, dataset_name: str) -> Dataset | None:
    """For management commands, which act with the operator's authority and name things instead of numbering them."""
    return Dataset.objects.select_related("workspace").filter(workspace__name=workspace_name, name=dataset_name).first()


def dataset_records(*, dataset: Dataset) -> QuerySet[Record]:
    return Record.objects.filter(dataset=dataset).select_related("source").order_by("pk")


def dataset_import_jobs(*, dataset: Dataset) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(dataset=dataset).select_related("source", "created_by").order_by("-created_at", "-pk")


def dataset_versions(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset).select_related("parent", "created_by").order_by("-number")


def version_by_number(*, dataset: Dataset, number: int) -> DatasetVersion | None:
    return DatasetVersion.objects.filter(dataset=dataset, number=number).first()


def version_entry_list(*, version: DatasetVersion, split: str | None = None) -> QuerySet[VersionRecord]:
    entries = VersionRecord.objects.filter(version=version).select_related("record__source").order_by("pk")
    return entries.filter(split=split) if split else entries
