"""Reads of the annotation app; each owns its query shape, so lists cost a fixed number of queries."""

import random
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Workspace
from annotation.access import MANAGE, WORK, scope_to_any_capability
from annotation.label_tree import LabelNode, label_tree_nested
from annotation.models import (
    AIAnnotator,
    AIAnswer,
    AIRun,
    Annotation,
    AnnotationProject,
    AnnotationTask,
    Assignment,
    Label,
    LabelSchema,
    Review,
    SchemaMove,
)
from datahub.models import DatasetVersion, Record, VersionRecord


def label_schemas_for_user(*, user) -> QuerySet[LabelSchema]:
    """Schemas of the workspaces where the user sets projects up, newest version first, labels prefetched in tree
    order."""
    labels = Prefetch("labels", queryset=Label.objects.order_by("order", "pk"))
    schemas = LabelSchema.objects.select_related("workspace").prefetch_related(labels)
    return scope_to_any_capability(schemas, user=user, capabilities=(MANAGE,)).order_by(
        "workspace__name", "name", "-version"
    )


def label_schema_tree(*, schema: LabelSchema) -> list[LabelNode]:
    """The schema's labels nested, numbered for shortcuts (uses prefetched labels when there are some; a published
    schema's otherwise come from the process's copy, services.annotations.schema_labels: every claim shows them)."""
    if schema.published_at is not None and "labels" not in getattr(schema, "_prefetched_objects_cache", {}):
        from annotation.services.annotations import schema_labels

        return label_tree_nested(schema_labels(schema=schema).values(), leaf_only=schema.leaf_only)
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


def project_progress(*, project: AnnotationProject, annotator=None, leases: bool = True) -> ProjectProgress:
    """Counts for one project (two queries); `mine_submitted` counts the annotator's submissions when one is given.

    leases=False (the workbench, which shows neither) leaves `active_leases` and `annotations` at 0 and counts only
    the annotator's own assignments, through their index, instead of every assignment of the project.
    """
    if not leases:
        tasks = project.tasks.aggregate(total=Count("pk"), done=Count("pk", filter=Q(is_complete=True)))
        mine = Assignment.objects.filter(
            annotator_id=getattr(annotator, "pk", None), status=Assignment.Status.SUBMITTED, task__project=project
        ).count() if annotator else 0
        return ProjectProgress(tasks_total=tasks["total"], tasks_done=tasks["done"], annotations=0, active_leases=0,
                               mine_submitted=mine)
    tasks = project.tasks.aggregate(
        total=Count("pk"), done=Count("pk", filter=Q(is_complete=True)), annotations=Sum("submitted_count")
    )
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
class Candidate:
    """One answer of a ranking item: its entry, its number on the page (1..N) and its text."""

    entry_id: int
    number: int
    content: str


@dataclass
class Item:
    """What an annotator sees for one assignment."""

    assignment: Assignment
    record: Record
    project: AnnotationProject
    labels: list[LabelNode]
    # A ranking item's answers, in the order this annotator sees them (see candidates_shown); empty otherwise.
    candidates: list[Candidate] = field(default_factory=list)

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
        return (not self.candidates and self.record.kind != Record.Kind.PREFERENCE and bool(messages)
                and messages[-1].get("role") == "assistant")


def assignment_item(*, assignment: Assignment, project: AnnotationProject) -> Item:
    """The record and the label tree for an assignment of `project` (two queries at most; three on a ranking item)."""
    if _loaded(assignment, "task") and _loaded(assignment.task, "entry") and _loaded(assignment.task.entry, "record"):
        task = assignment.task
        return Item(
            assignment=assignment,
            record=task.entry.record,
            project=project,
            labels=label_schema_tree(schema=project.schema),
            candidates=candidates_shown(
                task.candidates, candidate_answers(entry_ids=task.candidates), seed=assignment.pk
            ),
        )
    return assignment_items(assignments=[assignment], project=project)[0]


def assignment_items(*, assignments: list[Assignment], project: AnnotationProject) -> list[Item]:
    """Items for several assignments of `project`, in the given order (two queries, whatever their number; one more
    when some are ranking items)."""
    if not assignments:
        return []
    tasks = {
        task.pk: task
        for task in AnnotationTask.objects.select_related("entry__record").filter(
            pk__in=[a.task_id for a in assignments]
        )
    }
    answers = candidate_answers(entry_ids=[e for task in tasks.values() for e in task.candidates])
    labels = label_schema_tree(schema=project.schema)
    return [Item(assignment=a, record=tasks[a.task_id].entry.record, project=project, labels=labels,
                 candidates=candidates_shown(tasks[a.task_id].candidates, answers, seed=a.pk)) for a in assignments]


def candidate_answers(*, entry_ids: list[int]) -> dict[int, str]:
    """entry id -> the text of its final assistant answer (one query; none for no ids)."""
    if not entry_ids:
        return {}
    entries = (
        VersionRecord.objects.filter(pk__in=entry_ids)
        .select_related("record")
        .only("pk", "record__messages", "record__kind")
    )
    return {entry.pk: entry.record.response_text for entry in entries}


def candidates_shown(entry_ids: list[int], answers: dict[int, str], *, seed: int | None) -> list[Candidate]:
    """A ranking item's answers numbered 1..N: shuffled by `seed` (the assignment, so one annotator sees one stable
    order and different annotators different orders: the stored order cannot sway a ranking), or in entry order when
    `seed` is None (reviewers, exports)."""
    order = list(entry_ids)
    if seed is not None:
        random.Random(seed).shuffle(order)
    return [
        Candidate(entry_id=entry_id, number=i, content=answers.get(entry_id, "")) for i, entry_id in enumerate(order, 1)
    ]


def _loaded(instance, field: str) -> bool:
    return instance._meta.get_field(field).is_cached(instance)


def dataset_versions_for_annotation(*, user) -> QuerySet[DatasetVersion]:
    """Versions the user may open a project over, newest first."""
    versions = DatasetVersion.objects.select_related("dataset__workspace")
    versions = scope_to_any_capability(versions, user=user, capabilities=(MANAGE,), workspace_path="dataset__workspace")
    return versions.order_by("-created_at", "-pk")


def workspaces_for_annotation_manage(*, user) -> QuerySet[Workspace]:
    return scope_to_any_capability(
        Workspace.objects.all(), user=user, capabilities=(MANAGE,), workspace_path="pk"
    ).order_by("name")


def project_exports(*, project: AnnotationProject) -> QuerySet[DatasetVersion]:
    """The versions exported from this project, newest first."""
    return (
        DatasetVersion.objects.filter(
            parent=project.dataset_version,
            operation=DatasetVersion.Operation.ANNOTATION_EXPORT,
            operation_detail__project_id=project.pk,
        )
        .select_related("dataset")
        .order_by("-number")
    )


def label_schema_by_name(*, workspace: Workspace, name: str, version: int | None = None) -> LabelSchema | None:
    """The named schema of the workspace: the given version, or the newest."""
    schemas = LabelSchema.objects.filter(workspace=workspace, name=name)
    if version is not None:
        schemas = schemas.filter(version=version)
    return schemas.order_by("-version").first()


def newer_schema_versions(*, project: AnnotationProject) -> QuerySet[LabelSchema]:
    """Published versions of the project's schema newer than the one it uses, newest first."""
    return LabelSchema.objects.filter(
        workspace_id=project.workspace_id,
        name=project.schema.name,
        version__gt=project.schema.version,
        published_at__isnull=False,
    ).order_by("-version")


def schema_moves_of(*, project: AnnotationProject) -> QuerySet[SchemaMove]:
    return (
        SchemaMove.objects.filter(project=project)
        .select_related("from_schema", "to_schema", "moved_by")
        .order_by("created_at", "pk")
    )


def annotation_project_by_id(*, project_id: int) -> AnnotationProject | None:
    return (
        AnnotationProject.objects.select_related("workspace", "schema", "dataset_version__dataset")
        .filter(pk=project_id)
        .first()
    )


@dataclass
class Answer:
    """One submitted annotation as a reviewer (or a non-blind annotator) sees it."""

    annotation_id: int
    annotator: str
    annotator_kind: str
    labels: list[str]
    corrected_response: str
    comment: str
    # A ranking item: the entry ids best first; ranking_numbers gives them as the numbers a reviewer sees (review_item).
    ranking: list[int] = field(default_factory=list)
    ranking_numbers: list[int] = field(default_factory=list)
    rating: int | None = None
    free_text: str = ""
    preference: str = ""

    @property
    def preference_label(self) -> str:
        return Annotation.Preference(self.preference).label if self.preference else ""


def task_answers(*, task_id: int, exclude_annotator=None) -> list[Answer]:
    """The submitted answers of one item, oldest first (two queries)."""
    annotations = Annotation.objects.filter(task_id=task_id).select_related("annotator").order_by("created_at", "pk")
    if exclude_annotator is not None:
        annotations = annotations.exclude(annotator=exclude_annotator)
    annotations = annotations.prefetch_related(Prefetch("labels", queryset=Label.objects.order_by("path")))
    return [
        Answer(
            annotation_id=a.pk,
            annotator=a.annotator.get_username(),
            annotator_kind=a.annotator_kind,
            labels=[label.path for label in a.labels.all()],
            corrected_response=a.corrected_response,
            comment=a.comment,
            ranking=list(a.ranking or []),
            rating=a.rating,
            free_text=a.free_text,
            preference=a.preference,
        )
        for a in annotations
    ]


@dataclass
class ReviewItem:
    """What a reviewer sees for one check: the record, the answer(s) under check, and the labels to fix with."""

    review: Review
    record: Record
    project: AnnotationProject
    answers: list[Answer]
    labels: list[LabelNode]
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def prompt(self) -> list[dict]:
        return self.record.prompt_messages

    @property
    def response(self) -> str:
        return self.record.response_text


def review_held_by(*, project: AnnotationProject, layer: str, reviewer) -> Review | None:
    """The pending check of this layer the reviewer holds an unexpired claim on, if any."""
    return (Review.objects.filter(task__project=project, layer=layer, status=Review.Status.PENDING, reviewer=reviewer,
                                  claimed_until__gt=timezone.now()).order_by("pk").first())


def review_item(*, review: Review, project: AnnotationProject) -> ReviewItem:
    """The check with its record and answers: the checked annotation, or every answer of a disagreement."""
    task = AnnotationTask.objects.select_related("entry__record").get(pk=review.task_id)
    answers = task_answers(task_id=review.task_id)
    if review.annotation_id is not None:
        answers = [answer for answer in answers if answer.annotation_id == review.annotation_id]
    candidates = candidates_shown(task.candidates, candidate_answers(entry_ids=task.candidates), seed=None)
    number = {candidate.entry_id: candidate.number for candidate in candidates}
    for answer in answers:
        answer.ranking_numbers = [number[e] for e in answer.ranking if e in number]
    return ReviewItem(review=review, record=task.entry.record, project=project, answers=answers,
                      labels=label_schema_tree(schema=project.schema), candidates=candidates)


def review_counts(*, project: AnnotationProject) -> dict[str, dict[str, int]]:
    """Checks per layer and status, e.g. {"review": {"pending": 3, "rejected": 1}} (one query)."""
    counts: dict[str, dict[str, int]] = {layer: {} for layer in Review.Layer.values}
    for layer, status, n in (
        Review.objects.filter(task__project=project).values_list("layer", "status").annotate(n=Count("pk")).order_by()
    ):
        counts[layer][status] = n
    return counts


def ai_annotators_of(*, project: AnnotationProject) -> QuerySet[AIAnnotator]:
    """The project's AI annotators, oldest first, each with its endpoint, its service user, `annotations_n` and its
    latest run's fields as `run_*` (None without a run): one query, whatever their number."""
    latest = AIRun.objects.filter(ai_annotator=OuterRef("pk")).order_by("-pk")
    fields = {f"run_{name}": Subquery(latest.values(name)[:1]) for name in
              ("id", "status", "limit", "processed", "annotated", "failed", "error")}
    annotations_n = (
        Annotation.objects.filter(annotator_id=OuterRef("user_id"), task__project_id=OuterRef("project_id"))
        .order_by()
        .values("annotator_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (AIAnnotator.objects.filter(project=project).select_related("endpoint", "user")
            .annotate(annotations_n=Coalesce(Subquery(annotations_n), 0), **fields).order_by("created_at", "pk"))


def ai_annotator_by_name(*, project: AnnotationProject, name: str) -> AIAnnotator | None:
    return AIAnnotator.objects.select_related("project", "endpoint", "user").filter(project=project, name=name).first()


def ai_run_answers(*, run: AIRun, limit: int = 50) -> list[AIAnswer]:
    """The run's latest answers, newest first (one query)."""
    return list(AIAnswer.objects.filter(run=run).order_by("-pk")[:limit])
