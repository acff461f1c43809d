from django.db import transaction

from accounts.models import Workspace
from annotation.models import AnnotationProject, AnnotationTask, LabelSchema
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion, VersionRecord

TASK_BATCH = 5000
MAX_OVERLAP = 20
MAX_LEASE_SECONDS = 24 * 3600


@transaction.atomic
def annotation_project_create(*, workspace: Workspace, name: str, dataset_version: DatasetVersion, schema: LabelSchema,
                              overlap: int = 1, instructions: str = "", lease_seconds: int = 600,
                              created_by=None) -> AnnotationProject:
    """Open a project over a frozen version: one AnnotationTask per entry of the version.

    The version and the schema must belong to `workspace`; the schema is published (it never changes), so the labels
    annotators see now are the labels an export reads later.
    """
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError("empty", where="name")
    if len(name) > 200:
        raise ApplicationError("longer than 200 characters", where="name")
    if dataset_version.dataset.workspace_id != workspace.pk:
        raise ApplicationError("the dataset version belongs to another workspace", where="dataset_version")
    if schema.workspace_id != workspace.pk:
        raise ApplicationError("the label schema belongs to another workspace", where="schema")
    if schema.published_at is None:
        raise ApplicationError("the label schema is not published", where="schema")
    if not 1 <= overlap <= MAX_OVERLAP:
        raise ApplicationError(f"overlap must be between 1 and {MAX_OVERLAP}", where="overlap")
    if not 30 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise ApplicationError(f"a lease lasts between 30 and {MAX_LEASE_SECONDS} seconds", where="lease_seconds")
    project = AnnotationProject.objects.create(workspace=workspace, name=name, dataset_version=dataset_version, schema=schema,
                                               overlap=overlap, instructions=instructions.strip(), lease_seconds=lease_seconds,
                                               created_by=created_by)
    entry_ids = VersionRecord.objects.filter(version=dataset_version).order_by("pk").values_list("pk", flat=True)
    created, batch = 0, []
    for entry_id in entry_ids.iterator(chunk_size=TASK_BATCH):
        batch.append(AnnotationTask(project=project, entry_id=entry_id))
        if len(batch) == TASK_BATCH:
            created += len(AnnotationTask.objects.bulk_create(batch))
            batch = []
    if batch:
        created += len(AnnotationTask.objects.bulk_create(batch))
    if not created:
        raise ApplicationError("the dataset version has no records to annotate", where="dataset_version")
    history_record(actor=created_by, target=project, verb="created",
                   after={"name": name, "dataset_version": dataset_version.pk, "schema": schema.pk, "overlap": overlap, "tasks": created})
    return project
