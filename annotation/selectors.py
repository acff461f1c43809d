"""Reads of the annotation app; each owns its query shape, so lists cost a fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Workspace
from annotation.access import MANAGE, WORK, scope_to_any_capability
from annotation.label_tree import LabelNode, label_tree_nested
from annotation.models import AnnotationProject, Assignment, Label, LabelSchema
from datahub.models import DatasetVersion, Record


def label_schemas_for_user(*, user) -> QuerySet[LabelSchema]:
    """Schemas of the workspaces where the user sets projects up, newest version first, labels prefetched in tree order."""
    labels = Prefetch("labels", queryset=Label.objects.order_by("order", "pk"))
    schemas = LabelSchema.objects.select_related("workspace").prefetch_related(labels)
    return scope_to_any_capability(schemas, user=user, capabilities=(MANAGE,)).order_by("workspace__name", "name", "-version")


def label_schema_tree(*, schema: LabelSchema) -> list[LabelNode]:
    """The schema's labels nested, numbered for shortcuts (uses prefetched labels when there are some)."""
    return label_tree_nested(schema.labels.all(), leaf_only=schema.leaf_only)


def annotation_projects_for_user(*, user) -> QuerySet[AnnotationProject]:
    """Projects the user may work on or manage, newest first, each with `tasks_total` and `tasks_done`."""
    projects = (AnnotationProject.objects.select_related("workspace", "schema", "dataset_version__dataset")
                .annotate(tasks_total=Count("tasks"), tasks_done=Count("tasks", filter=Q(tasks__is_complete=True))))
    return scope_to_any_capability(projects, user=user, capabilities=(MANAGE, WORK)).order_by("-created_at", "-pk")


@dataclass
class ProjectProgress:
    tasks_total: int
    tasks_done: int
    annotations: int
    active_leases: int
    mine_submitted: int

    @property
    def percent_done(self) -> int:
        return round(100 * self.tasks_done / self.tasks_total) if self.tasks_total else 0


def project_progress(*, project: AnnotationProject, annotator=None) -> ProjectProgress:
    """Counts for one project (two queries); `mine_submitted` counts the annotator's submissions when one is given."""
    tasks = project.tasks.aggregate(total=Count("pk"), done=Count("pk", filter=Q(is_complete=True)), annotations=Sum("submitted_count"))
    assignments = Assignment.objects.filter(task__project=project).aggregate(
        active=Count("pk", filter=Q(status=Assignment.Status.ACTIVE, expires_at__gt=timezone.now())),
        mine=Count("pk", filter=Q(status=Assignment.Status.SUBMITTED, annotator_id=getattr(annotator, "pk", None))),
    )
    return ProjectProgress(tasks_total=tasks["total"], tasks_done=tasks["done"],
                           annotations=tasks["annotations"] or 0,
                           active_leases=assignments["active"], mine_submitted=assignments["mine"] if annotator else 0)


def assignment_active_for(*, project: AnnotationProject, annotator) -> Assignment | None:
    """The annotator's current unexpired lease in the project, with its record loaded; reads only."""
    active = Assignment.objects.filter(task__project=project, annotator=annotator, status=Assignment.Status.ACTIVE,
                                       expires_at__gt=timezone.now())
    return active.select_related("task__entry__record").order_by("claimed_at", "pk").first()


@dataclass
class Item:
    """What an annotator sees for one assignment."""

    assignment: Assignment
    record: Record
    project: AnnotationProject
    labels: list[LabelNode]

    @property
    def expires_at(self) -> datetime:
        return self.assignment.expires_at

    @property
    def prompt(self) -> list[dict]:
        return self.record.prompt_messages

    @property
    def response(self) -> str:
        return self.record.response_text

    @property
    def correctable(self) -> bool:
        messages = self.record.messages
        return self.record.kind != Record.Kind.PREFERENCE and bool(messages) and messages[-1].get("role") == "assistant"


def assignment_item(*, assignment: Assignment, project: AnnotationProject) -> Item:
    """The record and the label tree for an assignment of `project` (two queries at most)."""
    if _loaded(assignment, "task") and _loaded(assignment.task, "entry") and _loaded(assignment.task.entry, "record"):
        record = assignment.task.entry.record
    else:
        record = Record.objects.get(version_entries__annotation_tasks__pk=assignment.task_id)
    return Item(assignment=assignment, record=record, project=project, labels=label_schema_tree(schema=project.schema))


def _loaded(instance, field: str) -> bool:
    return instance._meta.get_field(field).is_cached(instance)


def dataset_versions_for_annotation(*, user) -> QuerySet[DatasetVersion]:
    """Versions the user may open a project over, newest first."""
    versions = DatasetVersion.objects.select_related("dataset__workspace")
    versions = scope_to_any_capability(versions, user=user, capabilities=(MANAGE,), workspace_path="dataset__workspace")
    return versions.order_by("-created_at", "-pk")


def workspaces_for_annotation_manage(*, user) -> QuerySet[Workspace]:
    return scope_to_any_capability(Workspace.objects.all(), user=user, capabilities=(MANAGE,), workspace_path="pk").order_by("name")


def project_exports(*, project: AnnotationProject) -> QuerySet[DatasetVersion]:
    """The versions exported from this project, newest first."""
    return (DatasetVersion.objects.filter(parent=project.dataset_version, operation=DatasetVersion.Operation.ANNOTATION_EXPORT,
                                          operation_detail__project_id=project.pk)
            .select_related("dataset").order_by("-number"))


def label_schema_by_name(*, workspace: Workspace, name: str, version: int | None = None) -> LabelSchema | None:
    """The named schema of the workspace: the given version, or the newest."""
    schemas = LabelSchema.objects.filter(workspace=workspace, name=name)
    if version is not None:
        schemas = schemas.filter(version=version)
    return schemas.order_by("-version").first()


def annotation_project_by_id(*, project_id: int) -> AnnotationProject | None:
    return AnnotationProject.objects.select_related("workspace", "schema", "dataset_version__dataset").filter(pk=project_id).first()
