from django.db.models import Exists, OuterRef, Subquery

from accounts.access import user_role
from accounts.models import Membership, Role, Workspace
from annotation.models import AIAnnotator, Annotation, AnnotationProject, AnnotationTask, Assignment, Label, LabelSchema
from annotation.services.queue_paths import submit_record
from common.errors import ApplicationError
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


def annotator_kind_for(*, user, workspace: Workspace) -> str:
    """crowd / staff / expert from the user's role in the workspace; ai for an AI annotator's service user (which is no
    member of any workspace); staff for superusers and any other role."""
    role = user_role(user, workspace)
    if role is None and AIAnnotator.objects.filter(user_id=user.pk).exists():
        return Annotation.AnnotatorKind.AI
    return ANNOTATOR_KIND_BY_ROLE.get(role, Annotation.AnnotatorKind.STAFF)


def annotation_submit(*, assignment: Assignment, label_ids: list, corrected_response: str = "", comment: str = "",
                      time_spent_ms: int, submitted_by, rating: int | None = None, free_text: str = "",
                      preference: str = "", ranking: list | None = None) -> Annotation:
    """Record the annotator's answer for their assignment and count it on the task.

    Idempotent: submitting an already submitted assignment again with the same answer returns its annotation unchanged;
    with a different answer it is a conflict (code "conflict").
    Refused when the assignment is someone else's, was skipped, or its lease expired. `rating` (1..the schema's
    rating_scale) and `free_text` are optional, and only taken when the schema asks for them; so is `preference` (a, b
    or tie: which of the record's two answers is better, A being the stored chosen one), taken when the schema has a
    pairwise question and the record two answers (a preference record). `ranking` (the item's candidate entry ids, best
    first) is required on a ranking item and refused elsewhere (see ranking_check). The task row is locked first (see
    lock_objects), so a concurrent claim cannot expire the lease halfway; the task's count moves under that lock and the
    task completes when it reaches the project's overlap.

    Everything that needs no lock is read and checked first (one query: the project with the submitter's role; the
    schema's labels are read once per process, see schema_labels). The locked part is queue_paths.submit_record: on
    PostgreSQL one call of the function annotation_submit_record (annotation/sql/submit.sql), elsewhere the same steps
    from Python.
    """
    if assignment.annotator_id != submitted_by.pk:
        raise ApplicationError("this item is assigned to another annotator", where="assignment", code="not_yours")
    try:
        project, labels, correction, comment, kind = _answer_check(
            assignment=assignment, label_ids=label_ids, corrected_response=corrected_response, comment=comment,
            time_spent_ms=time_spent_ms, submitted_by=submitted_by)
        rating, free_text = fields_check(schema=project.schema, rating=rating, free_text=free_text)
        preference = preference_check(schema=project.schema, task_id=assignment.task_id, preference=preference)
        ranking = ranking_check(schema=project.schema, task_id=assignment.task_id, ranking=ranking)
        if not (labels or rating is not None or free_text or preference or ranking):
            # A schema without labels: the other answers are each optional, but not all of them.
            raise ApplicationError("answer at least one of the questions", where="answer")
    except ApplicationError:
        # An answer that is not even valid cannot be the one already submitted.
        if Annotation.objects.filter(assignment_id=assignment.pk).exists():
            raise _answered_differently() from None
        raise
    answer = {
        "assignment": assignment,
        "project": project,
        "labels": labels,
        "correction": correction,
        "comment": comment,
        "kind": kind,
        "time_spent_ms": time_spent_ms,
        "submitted_by": submitted_by,
        "rating": rating,
        "free_text": free_text,
        "preference": preference,
        "ranking": ranking,
    }
    annotation = submit_record(**answer)
    if annotation is None:
        return _submit_refused(assignment=assignment, answer=answer)
    return annotation


def _answered_differently() -> ApplicationError:
    return ApplicationError("this item was already submitted with a different answer; it cannot be changed here",
                            where="assignment", code="conflict")


def _same_answer(annotation: Annotation, answer: dict) -> bool:
    """Whether a repeated submit carries the answer already stored (how long it took may differ)."""
    stored = (sorted(annotation.labels.values_list("pk", flat=True)), annotation.corrected_response, annotation.comment,
              annotation.rating, annotation.free_text, annotation.preference, list(annotation.ranking or []))
    sent = (sorted(label.pk for label in answer["labels"]), answer["correction"], answer["comment"], answer["rating"],
            answer["free_text"], answer["preference"], list(answer["ranking"] or []))
    return stored == sent


def _submit_refused(*, assignment: Assignment, answer: dict) -> Annotation:
    """Why a submit moved nothing: the first answer when it was already submitted with the same answer (a retry), a
    conflict when with another, else the error to show."""
    current = Assignment.objects.only("status", "expires_at").get(pk=assignment.pk)
    if current.status == Assignment.Status.SUBMITTED:
        existing = Annotation.objects.get(assignment_id=assignment.pk)
        if not _same_answer(existing, answer):
            raise _answered_differently()
        return existing
    if current.status == Assignment.Status.SKIPPED:
        raise ApplicationError("this item was skipped; claim the next one", where="assignment", code="skipped")
    raise ApplicationError(
        f"the lease on this item expired at {current.expires_at:%Y-%m-%d %H:%M:%S} UTC; claim the next one",
        where="assignment",
        code="expired",
    )


def _answer_check(
    *, assignment: Assignment, label_ids, corrected_response: str, comment: str, time_spent_ms, submitted_by
):
    """The project, labels, correction, comment and annotator kind of a submit, checked without any lock."""
    # The submitter's role comes with the project (one query for both): it decides the kind of annotator.
    role = Membership.objects.filter(workspace=OuterRef("workspace_id"), user=submitted_by).values("role")[:1]
    project = (
        AnnotationProject.objects.select_related("schema", "workspace")
        .annotate(
            submitter_role=Subquery(role), submitter_is_ai=Exists(AIAnnotator.objects.filter(user_id=submitted_by.pk))
        )
        .get(tasks__pk=assignment.task_id)
    )
    labels = labels_check(schema=project.schema, label_ids=label_ids)
    correction = ""
    if (corrected_response or "").strip():
        if AnnotationTask.objects.values_list("candidates", flat=True).get(pk=assignment.task_id):
            raise ApplicationError("a ranking item has several answers; rank them instead of correcting one",
                                   where="corrected_response")
        record = Record.objects.only("kind", "messages", "chosen").get(
            version_entries__annotation_tasks__pk=assignment.task_id
        )
        correction = correction_check(record=record, text=corrected_response)
    if (
        not isinstance(time_spent_ms, int)
        or isinstance(time_spent_ms, bool)
        or not 0 <= time_spent_ms <= MAX_TIME_SPENT_MS
    ):
        raise ApplicationError(
            f"must be a whole number of milliseconds between 0 and {MAX_TIME_SPENT_MS}", where="time_spent_ms"
        )
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise ApplicationError(f"longer than {MAX_COMMENT_CHARS} characters", where="comment")
    if project.submitter_is_ai:
        kind = Annotation.AnnotatorKind.AI
    else:
        kind = ANNOTATOR_KIND_BY_ROLE.get(Role.ADMIN if submitted_by.is_superuser else project.submitter_role,
                                          Annotation.AnnotatorKind.STAFF)
    return project, labels, correction, comment, kind


def fields_check(*, schema: LabelSchema, rating, free_text) -> tuple[int | None, str]:
    """The rating and free text to store: each optional, and refused when the schema does not ask for it."""
    if rating is not None and rating != "":
        if not schema.rating_scale:
            raise ApplicationError(f"the schema {schema} has no rating", where="rating")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= schema.rating_scale:
            raise ApplicationError(f"must be a whole number from 1 to {schema.rating_scale}", where="rating")
    else:
        rating = None
    free_text = normalise_text(free_text or "").strip()
    if free_text and not schema.free_text_question:
        raise ApplicationError(f"the schema {schema} has no free-text question", where="free_text")
    if len(free_text) > MAX_COMMENT_CHARS:
        raise ApplicationError(f"longer than {MAX_COMMENT_CHARS} characters", where="free_text")
    return rating, free_text


def preference_check(*, schema: LabelSchema, task_id: int, preference) -> str:
    """The pairwise preference to store ("" when none): a, b or tie, refused when the schema asks no pairwise question
    or the task's record has not two answers to compare. Reads the record only when a preference is given."""
    preference = str(preference or "").strip().lower()
    if not preference:
        return ""
    if not schema.pairwise_question:
        raise ApplicationError(f"the schema {schema} has no pairwise question", where="preference")
    if preference not in Annotation.Preference.values:
        raise ApplicationError("must be a, b or tie", where="preference")
    if not pairwise_record(
        Record.objects.only("chosen", "rejected").get(version_entries__annotation_tasks__pk=task_id)
    ):
        raise ApplicationError("this record has no two answers to compare", where="preference")
    return preference


def ranking_check(*, schema: LabelSchema, task_id: int, ranking) -> list[int]:
    """The ranking to store ([] on an item that is not a ranking item): the item's candidate entry ids, best first,
    each exactly once. Required on a ranking item (ranking it is the task), refused elsewhere. Reads the item's
    candidates only when the schema has a ranking question."""
    if not schema.ranking_question:
        if ranking:
            raise ApplicationError(f"the schema {schema} asks for no ranking", where="ranking")
        return []
    candidates = AnnotationTask.objects.filter(pk=task_id).values_list("candidates", flat=True).get()
    if not candidates:
        if ranking:
            raise ApplicationError("this item has one answer; there is nothing to rank", where="ranking")
        return []
    if not ranking:
        raise ApplicationError(f"rank the {len(candidates)} answers, best first", where="ranking")
    if not isinstance(ranking, list | tuple):
        raise ApplicationError("must be a list of the item's answer ids, best first", where="ranking")
    ids: list[int] = []
    for i, value in enumerate(ranking):
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ApplicationError(f"{value!r} is not an answer id", where=f"ranking[{i}]") from None
        if ids[-1] not in candidates:
            raise ApplicationError(f"{ids[-1]} is not one of this item's answers", where=f"ranking[{i}]")
        if ids[-1] in ids[:-1]:
            raise ApplicationError(f"answer {ids[-1]} is ranked twice", where=f"ranking[{i}]")
    if len(ids) != len(candidates):
        missing = ", ".join(str(c) for c in candidates if c not in ids)
        raise ApplicationError(f"rank every answer; not ranked: {missing}", where="ranking")
    return ids


def pairwise_record(record: Record) -> bool:
    """Whether the record has two candidate answers (A = chosen, B = rejected as stored)."""
    return bool(record.chosen) and bool(record.rejected)


def labels_check(*, schema: LabelSchema, label_ids) -> list[Label]:
    """The schema's labels for `label_ids`, checked against the schema's rules (one or several, leaves only); none on a
    schema without labels."""
    if not isinstance(label_ids, list | tuple):
        raise ApplicationError("must be a list of label ids", where="label_ids")
    ids: list[int] = []
    for i, value in enumerate(label_ids):
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ApplicationError(f"{value!r} is not a label id", where=f"label_ids[{i}]") from None
    ids = list(dict.fromkeys(ids))
    found = schema_labels(schema=schema)
    if not ids:
        if not found:
            return []  # a schema without labels (it asks other questions)
        raise ApplicationError("pick at least one label", where="label_ids")
    if len(ids) > 1 and not schema.multiple:
        raise ApplicationError(f"this schema takes one label; {len(ids)} were picked", where="label_ids")
    for i, label_id in enumerate(ids):
        if label_id not in found:
            raise ApplicationError(f"label {label_id} is not in the schema {schema}", where=f"label_ids[{i}]")
        if schema.leaf_only and found[label_id].has_children:
            raise ApplicationError(
                f"{found[label_id].path!r} has sub-labels; pick one of them", where=f"label_ids[{i}]"
            )
    return [found[label_id] for label_id in ids]


_SCHEMA_LABELS: dict[tuple, dict[int, Label]] = {}
_SCHEMA_LABELS_KEPT = 256


def schema_labels(*, schema: LabelSchema) -> dict[int, Label]:
    """Label id -> label (with `has_children`) of the schema.

    A published schema never changes, so its labels are read once per process and kept: every submit checks its labels,
    and this saves that query. Keyed by id and publication time, so an id reused by a fresh database never hits an old
    entry. Treat the labels as read-only; an unpublished schema is read every time.
    """
    key = (schema.pk, schema.published_at)
    found = _SCHEMA_LABELS.get(key) if schema.published_at is not None else None
    if found is None:
        labels = Label.objects.filter(schema=schema).annotate(
            has_children=Exists(Label.objects.filter(parent=OuterRef("pk")))
        )
        found = {label.pk: label for label in labels}
        if schema.published_at is not None:
            if len(_SCHEMA_LABELS) >= _SCHEMA_LABELS_KEPT:
                _SCHEMA_LABELS.clear()
            _SCHEMA_LABELS[key] = found
    return found


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
