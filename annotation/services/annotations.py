from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.utils import timezone

from accounts.access import user_role
from accounts.models import Role, Workspace
from annotation.lock_objects import assignment_lock, task_lock
from annotation.models import Annotation, AnnotationProject, AnnotationTask, Assignment, Label, LabelSchema
from common.errors import ApplicationError
from common.history import history_record
from datahub.canonical import MAX_RECORD_CHARS, normalise_text
from datahub.models import Record

MAX_TIME_SPENT_MS = 24 * 3600 * 1000
MAX_COMMENT_CHARS = 5000

# Roles that may work in a queue, and the kind of annotator their work counts as.
ANNOTATOR_KIND_BY_ROLE = {
    Role.EXPERT_ANNOTATOR: Annotation.AnnotatorKind.EXPERT,
    Role.STAFF_ANNOTATOR: Annotation.AnnotatorKind.STAFF,
    Role.CROWD_ANNOTATOR: Annotation.AnnotatorKind.CROWD,
    Role.REVIEWER: Annotation.AnnotatorKind.STAFF,
    Role.ADMIN: Annotation.AnnotatorKind.STAFF,
}


def _layers_after_submit(**kwargs) -> None:
    # Imported here: the reviews module checks fixed labels with labels_check from this one.
    from annotation.services.reviews import layers_after_submit

    layers_after_submit(**kwargs)


def annotator_kind_for(*, user, workspace: Workspace) -> str:
    """crowd / staff / expert from the user's role in the workspace; staff for superusers and any other role."""
    return ANNOTATOR_KIND_BY_ROLE.get(user_role(user, workspace), Annotation.AnnotatorKind.STAFF)


@transaction.atomic
def annotation_submit(*, assignment: Assignment, label_ids: list, corrected_response: str = "", comment: str = "",
                      time_spent_ms: int, submitted_by) -> Annotation:
    """Record the annotator's answer for their assignment and count it on the task.

    Idempotent: submitting an already submitted assignment (with a valid answer) returns its annotation unchanged.
    Refused when the assignment is someone else's, was skipped, or its lease expired. The task row is locked first (see lock_objects),
    so a concurrent claim cannot expire the lease halfway; the task's count moves with F() and the task completes
    when it reaches the project's overlap.
    """
    if assignment.annotator_id != submitted_by.pk:
        raise ApplicationError("this item is assigned to another annotator", where="assignment", code="not_yours")
    # Everything that needs no lock is read and checked first, so the task stays locked for a few writes only.
    try:
        project, labels, correction, comment, kind = _answer_check(
            assignment=assignment, label_ids=label_ids, corrected_response=corrected_response, comment=comment,
            time_spent_ms=time_spent_ms, submitted_by=submitted_by)
    except ApplicationError:
        # A repeated submit returns the first answer, whatever it carries this time.
        existing = Annotation.objects.filter(assignment_id=assignment.pk).first()
        if existing is not None:
            return existing
        raise

    task = task_lock(task_id=assignment.task_id)
    locked = assignment_lock(assignment_id=assignment.pk)
    if locked.status == Assignment.Status.SUBMITTED:
        return Annotation.objects.get(assignment=locked)
    if locked.status == Assignment.Status.SKIPPED:
        raise ApplicationError("this item was skipped; claim the next one", where="assignment", code="skipped")
    now = timezone.now()
    if locked.status == Assignment.Status.EXPIRED or locked.expires_at <= now:
        raise ApplicationError(f"the lease on this item expired at {locked.expires_at:%Y-%m-%d %H:%M:%S} UTC; claim the next one",
                               where="assignment", code="expired")

    annotation = Annotation.objects.create(
        task=task, assignment=locked, annotator=submitted_by,
        annotator_kind=kind,
        corrected_response=correction, comment=comment, time_spent_ms=time_spent_ms,
    )
    Annotation.labels.through.objects.bulk_create([Annotation.labels.through(annotation=annotation, label=label) for label in labels])
    locked.status = Assignment.Status.SUBMITTED
    locked.finished_at = now
    locked.save(update_fields=["status", "finished_at"])
    AnnotationTask.objects.filter(pk=task.pk).update(
        submitted_count=F("submitted_count") + 1,
        # Both sides read the row as it was before this update.
        is_complete=Case(When(submitted_count__gte=project.overlap - 1, then=Value(True)), default=F("is_complete")),
    )
    _layers_after_submit(project=project, task=task, annotation=annotation, labels=labels,
                        completes=task.submitted_count + 1 >= project.overlap)
    history_record(actor=submitted_by, target=annotation, verb="submitted",
                   after={"assignment": locked.pk, "task": task.pk, "labels": [label.path for label in labels],
                          "corrected": bool(correction), "time_spent_ms": time_spent_ms, "annotator_kind": annotation.annotator_kind})
    return annotation


def _answer_check(*, assignment: Assignment, label_ids, corrected_response: str, comment: str, time_spent_ms, submitted_by):
    """The project, labels, correction, comment and annotator kind of a submit, checked without any lock."""
    project = AnnotationProject.objects.select_related("schema", "workspace").get(tasks__pk=assignment.task_id)
    labels = labels_check(schema=project.schema, label_ids=label_ids)
    correction = ""
    if (corrected_response or "").strip():
        record = Record.objects.only("kind", "messages", "chosen").get(version_entries__annotation_tasks__pk=assignment.task_id)
        correction = correction_check(record=record, text=corrected_response)
    if not isinstance(time_spent_ms, int) or isinstance(time_spent_ms, bool) or not 0 <= time_spent_ms <= MAX_TIME_SPENT_MS:
        raise ApplicationError(f"must be a whole number of milliseconds between 0 and {MAX_TIME_SPENT_MS}", where="time_spent_ms")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise ApplicationError(f"longer than {MAX_COMMENT_CHARS} characters", where="comment")
    kind = annotator_kind_for(user=submitted_by, workspace=project.workspace)
    return project, labels, correction, comment, kind


def labels_check(*, schema: LabelSchema, label_ids) -> list[Label]:
    """The schema's labels for `label_ids`, checked against the schema's rules (one or several, leaves only)."""
    if not isinstance(label_ids, list | tuple):
        raise ApplicationError("must be a list of label ids", where="label_ids")
    ids: list[int] = []
    for i, value in enumerate(label_ids):
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ApplicationError(f"{value!r} is not a label id", where=f"label_ids[{i}]") from None
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ApplicationError("pick at least one label", where="label_ids")
    if len(ids) > 1 and not schema.multiple:
        raise ApplicationError(f"this schema takes one label; {len(ids)} were picked", where="label_ids")
    labels = Label.objects.filter(schema=schema, pk__in=ids).annotate(has_children=Exists(Label.objects.filter(parent=OuterRef("pk"))))
    found = {label.pk: label for label in labels}
    for i, label_id in enumerate(ids):
        if label_id not in found:
            raise ApplicationError(f"label {label_id} is not in the schema {schema}", where=f"label_ids[{i}]")
        if schema.leaf_only and found[label_id].has_children:
            raise ApplicationError(f"{found[label_id].path!r} has sub-labels; pick one of them", where=f"label_ids[{i}]")
    return [found[label_id] for label_id in ids]


def correction_check(*, record: Record, text: str) -> str:
    """The corrected answer to store: "" when there is none or it equals the original answer."""
    text = normalise_text(text or "").strip()
    if not text or text == record.response_text.strip():
        return ""
    if record.kind == Record.Kind.PREFERENCE or not record.messages or record.messages[-1].get("role") != "assistant":
        raise ApplicationError("this record has no single answer to correct", where="corrected_response")
    if len(text) > MAX_RECORD_CHARS:
        raise ApplicationError(f"longer than {MAX_RECORD_CHARS} characters", where="corrected_response")
    return text
