"""Sources and datasets: created once, named uniquely inside their workspace; a dataset nothing uses can be deleted."""

import shutil
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from common.storage import workspace_storage_relative
from datahub.models import Dataset, DatasetVersion, ImportJob, Record, RecordSearch, Source, VersionRecord

NAME_MAX = 200


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("a name is required", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    return name


@transaction.atomic
def source_create(*, workspace: Workspace, name: str, kind: str = Source.Kind.OWN, quality_tier: str = Source.Tier.B,
                  description: str = "", created_by=None) -> Source:
    """Register where records come from. The name is unique in the workspace."""
    name = _clean_name(name)
    if kind not in Source.Kind.values:
        raise ApplicationError(
            f"unknown source kind {kind!r}; choose one of {', '.join(Source.Kind.values)}", where="kind"
        )
    if quality_tier not in Source.Tier.values:
        raise ApplicationError(f"unknown quality tier {quality_tier!r}; choose one of {', '.join(Source.Tier.values)}",
                               where="quality_tier")
    try:
        # The unique constraint decides, so two concurrent creates cannot both win.
        with transaction.atomic():
            source = Source.objects.create(
                workspace=workspace, name=name, kind=kind, quality_tier=quality_tier, description=description
            )
    except IntegrityError as exc:
        raise ApplicationError(
            f"a source named {name!r} already exists in workspace {workspace.name!r}", where="name", code="duplicate"
        ) from exc
    history_record(
        actor=created_by,
        target=source,
        verb="created",
        after={"name": name, "kind": kind, "quality_tier": quality_tier},
    )
    return source


@transaction.atomic
def source_quality_tier_set(*, source: Source, tier: str, actor=None) -> Source:
    """Set the source's quality tier (a person's call, usually the suggested one); dedupe and mixing read it."""
    if tier not in Source.Tier.values:
        raise ApplicationError(f"tier is one of {', '.join(Source.Tier.values)}", where="tier")
    source = Source.objects.select_for_update().get(pk=source.pk)
    before = source.quality_tier
    source.quality_tier = tier
    source.save(update_fields=["quality_tier", "updated_at"])
    history_record(actor=actor, target=source, verb="quality_tier_set", before={"tier": before}, after={"tier": tier})
    return source


@transaction.atomic
def dataset_create(*, workspace: Workspace, name: str, description: str = "", created_by=None) -> Dataset:
    """Create an empty dataset. The name is unique in the workspace."""
    name = _clean_name(name)
    user = created_by if created_by is not None and created_by.is_authenticated else None
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(workspace=workspace, name=name, description=description, created_by=user)
    except IntegrityError as exc:
        raise ApplicationError(f"a dataset named {name!r} already exists in workspace {workspace.name!r}",
                               where="name", code="duplicate") from exc
    history_record(actor=created_by, target=dataset, verb="created", after={"name": name})
    return dataset


# What outside a dataset may point at one of its versions: (reverse relation on DatasetVersion, what to call it).
VERSION_USERS = [
    ("training_runs", "training run"),
    ("model_artifacts", "model artifact"),
    ("studies", "study"),
    ("annotation_projects", "annotation project"),
]
USERS_NAMED = 5


def dataset_users(*, dataset: Dataset) -> list[str]:
    """What keeps the dataset from being deleted, in words ("training run 'faq-lora' (v2)"): whatever uses one of its
    versions (training runs, model artifacts, studies, annotation projects, another dataset's version derived from
    one), and work still under way on it (an import, a dedupe, augmentation or mix run). Empty: it can go."""
    from augmentation.selectors import augmentation_work_under_way
    from dedupe.selectors import dedupe_runs_under_way

    users: list[str] = []
    versions = DatasetVersion.objects.filter(dataset=dataset)
    for relation, noun in VERSION_USERS:
        rows = (
            versions.filter(**{f"{relation}__isnull": False})
            .values_list("number", f"{relation}__name")
            .order_by("number", f"{relation}__pk")
        )
        users += [f"{noun} {name!r} (v{number})" for number, name in rows[:USERS_NAMED]]
    derived = (DatasetVersion.objects.filter(parent__dataset=dataset).exclude(dataset=dataset)
               .values_list("dataset__name", "number", "parent__number").order_by("pk")[:USERS_NAMED])
    users += [f"dataset {name!r} v{number} (made from v{parent})" for name, number, parent in derived]
    under_way = [ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    users += [
        f"import of {name!r} ({status})"
        for name, status in ImportJob.objects.filter(dataset=dataset, status__in=under_way).values_list(
            "file_name", "status"
        )[:USERS_NAMED]
    ]
    # Work of the apps built on datahub, asked of each through its own selectors.
    users += dedupe_runs_under_way(dataset=dataset, limit=USERS_NAMED)
    users += augmentation_work_under_way(dataset=dataset, limit=USERS_NAMED)
    return users


@transaction.atomic
def dataset_delete(*, dataset: Dataset, deleted_by=None, reason: dict | None = None) -> None:
    """Delete the dataset with its records, versions, imports and the runs made on it (dedupe, augmentation, mix).

    Refused (code "in_use", `extra["used_by"]` naming each) while anything in dataset_users uses it: a version that
    trained a model or feeds a study stays. The dataset row is locked first, so nothing new can start on it meanwhile;
    records go in set-based statements, never loaded one by one. The uploaded files go after the commit.
    """
    from augmentation.services.runs import augmentation_of_dataset_delete
    from dedupe.services import dedupe_runs_of_dataset_delete

    locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    if locked is None:
        raise ApplicationError(f"dataset {dataset.pk} does not exist", where="dataset", code="not_found")
    users = dataset_users(dataset=locked)
    if users:
        raise ApplicationError(f"dataset {locked.name!r} is in use by {', '.join(users)}; delete or finish those first",
                               where="dataset", code="in_use", extra={"used_by": users})
    counts = {"records": Record.objects.filter(dataset=locked).count(), "versions": locked.versions.count()}
    version_ids = list(locked.versions.values_list("pk", flat=True))
    augmentation_of_dataset_delete(dataset=locked)
    dedupe_runs_of_dataset_delete(dataset=locked)
    _rows_delete(VersionRecord.objects.filter(version_id__in=version_ids))
    DatasetVersion.objects.filter(pk__in=version_ids).update(parent=None)
    DatasetVersion.objects.filter(pk__in=version_ids).delete()
    # Copies in other datasets (a mix) keep their content and lose only the pointer to where they came from.
    Record.objects.filter(parent__dataset=locked).exclude(dataset=locked).update(parent=None)
    _rows_delete(RecordSearch.objects.filter(record__dataset=locked))
    _rows_delete(Record.objects.filter(dataset=locked))
    history_record(actor=deleted_by, target=locked, verb="deleted",
                   after={"name": locked.name, "workspace": locked.workspace_id, **counts, **(reason or {})})
    locked.delete()
    # Every upload of the dataset, and its staged records (import_job_create).
    uploads = f"{workspace_storage_relative(locked.workspace_id)}/imports/dataset-{dataset.pk}"
    transaction.on_commit(lambda: shutil.rmtree(Path(settings.STORAGE_ROOT) / uploads, ignore_errors=True))


def _rows_delete(queryset) -> int:
    """One DELETE statement for the rows, without Django loading them to cascade: the caller has already removed
    (or checked there are no) rows that point at them."""
    return queryset._raw_delete(queryset.db)

