"""The queue's locked steps on both of its paths, side by side: claiming leases and recording a submit.

On PostgreSQL each step is one call of a function defined in annotation/sql/ (claim.sql: annotation_claim,
submit.sql: annotation_submit_record), so it costs one round trip: with 50 annotators on a busy 2-core machine every
round trip is a wait for a core, and that wait, not the queries, is most of a claim's time. Elsewhere (SQLite) the
same statements run from Python, in the same order and with the same locks, below each function's call here.
annotation/tests/services/test_queue_paths.py runs both paths on PostgreSQL and requires the same rows from each;
annotation/tests/test_sql_functions.py requires the installed functions to be the files.

The rules a submit applies under the task lock are written once on each side: the gold score (the sorted label paths
equal the item's known answer) and the disagreement check (disagreement_review). Sampling re-checks and spot checks
is Python on both paths (reviews.checks_sample), in the submit's transaction.

Concurrency rules: see annotation.services.queue and annotation.lock_objects.
"""

import json
from collections import Counter
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.lock_objects import annotator_lock, task_lock, tasks_lock_free, tasks_lock_wait
from annotation.models import Annotation, AnnotationProject, AnnotationTask, Assignment, Label, Review
from common.history import history_record

LIVE = (Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED)


# Claim ---------------------------------------------------------------------------------------------------------------

def claim_leases(*, project: AnnotationProject, annotator, want: int) -> list[Assignment]:
    """The annotator's live leases in the project, oldest first, after claiming new ones until they hold `want` (fewer
    when nothing is left). Whether the annotator may claim at all is the caller's check."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        # The last argument: a claim that is its own transaction commits without waiting for the disk (see claim.sql).
        return list(
            Assignment.objects.raw(
                "SELECT * FROM annotation_claim(%s, %s, %s, %s, %s, %s, %s)",
                [
                    project.pk,
                    annotator.pk,
                    project.overlap,
                    project.lease_seconds,
                    now,
                    want,
                    not connection.in_atomic_block,
                ],
            )
        )
    return _claim_portable(project=project, annotator=annotator, want=want, now=now)


@transaction.atomic
def _claim_portable(*, project: AnnotationProject, annotator, want: int, now) -> list[Assignment]:
    annotator_lock(annotator=annotator)
    held = list(_own_active(project=project, annotator=annotator, now=now))
    while len(held) < want:
        assignment = _claim_one(project=project, annotator=annotator, now=now)
        if assignment is None:
            break
        held.append(assignment)
    return held


def _own_active(*, project: AnnotationProject, annotator, now):
    return (Assignment.objects.filter(task__project=project, annotator=annotator, status=Assignment.Status.ACTIVE,
                                      expires_at__gt=now)
            .order_by("claimed_at", "pk"))


def _claim_one(*, project: AnnotationProject, annotator, now) -> Assignment | None:
    """A new lease for the annotator (whose row lock the caller holds), or None when nothing is left for them."""
    passed_over: list[int] = []
    while True:
        candidates = _claimable_tasks(project=project, annotator=annotator, now=now).exclude(pk__in=passed_over)
        locked = tasks_lock_free(candidates, limit=1)
        if not locked:
            # Every candidate is held by a claim or submit in flight (or none is left): wait for the first rather than
            # answer "nothing left" while a slot is about to be free.
            locked = tasks_lock_wait(candidates, limit=1)
        if not locked:
            return None
        assignment = _slot_take(task=locked[0], project=project, annotator=annotator, now=now)
        if assignment is not None:
            return assignment
        # The candidate query read an older snapshot than the lock; this task filled up meanwhile.
        passed_over.append(locked[0].pk)


def _claimable_tasks(*, project: AnnotationProject, annotator, now):
    """Incomplete tasks, in id order, that the annotator has not submitted, skipped or leased and that seem to have a
    free slot.

    A slot is taken by a submitted annotation (counted in `submitted_count`) or an unexpired active lease. This reads
    a snapshot; _slot_take re-checks under the row lock.
    """
    # Scalar subqueries with LIMIT 1 (not EXISTS): PostgreSQL runs them as one index probe per candidate row, instead
    # of turning them into an anti-join that reads every assignment of the annotator or of the project.
    done_by_annotator = Assignment.objects.filter(
        Q(status__in=[Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED])
        | Q(status=Assignment.Status.ACTIVE, expires_at__gt=now),
        task=OuterRef("pk"), annotator=annotator).values("pk")[:1]
    leased = Assignment.objects.filter(task=OuterRef("pk"), status=Assignment.Status.ACTIVE, expires_at__gt=now)
    tasks = (AnnotationTask.objects.filter(project=project, is_complete=False)
             .alias(mine=Subquery(done_by_annotator)).filter(mine__isnull=True))
    if project.overlap == 1:
        # An incomplete task of a single-overlap project has no submission, so only a lease can hold its slot.
        tasks = tasks.alias(lease=Subquery(leased.values("pk")[:1])).filter(lease__isnull=True)
    else:
        leases = leased.order_by().values("task").annotate(n=Count("pk")).values("n")
        tasks = (tasks.alias(taken=F("submitted_count") + Coalesce(Subquery(leases, output_field=IntegerField()), 0))
                 .filter(taken__lt=project.overlap))
    return tasks.order_by("pk")


def _slot_take(*, task: AnnotationTask, project: AnnotationProject, annotator, now) -> Assignment | None:
    """With the task row locked: expire its stale leases, then lease its lowest free slot (None if there is none).

    One read of the task's live and stale assignments decides both; the rows cannot change under the task lock except
    by a submit that took the lock before us (and a submit never turns a stale lease live), so the slot is free when we
    insert. The partial unique constraints stay the last word: if that reasoning were ever wrong, the insert fails.
    """
    if task.is_complete:
        return None
    rows = list(Assignment.objects.filter(task=task, status__in=LIVE)
                .values_list("pk", "slot", "annotator_id", "status", "expires_at"))
    stale = [pk for pk, _, _, status, expires_at in rows if status == Assignment.Status.ACTIVE and expires_at <= now]
    if stale:
        # expires_at again: PostgreSQL re-checks the condition on the locked row, so a lease renewed since is left
        # alone.
        expired = Assignment.objects.filter(pk__in=stale, status=Assignment.Status.ACTIVE, expires_at__lte=now).update(
            status=Assignment.Status.EXPIRED, finished_at=now)
        if expired != len(stale):
            rows = list(Assignment.objects.filter(task=task, status__in=LIVE)
                        .values_list("pk", "slot", "annotator_id", "status", "expires_at"))
            stale = []
    live = [(slot, annotator_id) for pk, slot, annotator_id, _, _ in rows if pk not in stale]
    if any(annotator_id == annotator.pk for _, annotator_id in live):
        return None
    used = {slot for slot, _ in live}
    free = next((slot for slot in range(project.overlap) if slot not in used), None)
    if free is None:
        return None
    assignment = Assignment.objects.create(task=task, annotator=annotator, slot=free,
                                           expires_at=now + timedelta(seconds=project.lease_seconds))
    history_record(
        actor=annotator,
        target=assignment,
        verb="claimed",
        after={"task": task.pk, "slot": free, "expires_at": assignment.expires_at.isoformat(), "expired": stale},
    )
    return assignment


# Submit --------------------------------------------------------------------------------------------------------------

def ai_first_answer(*, project: AnnotationProject, kind: str) -> bool:
    """An AI answer in an AI-first project: it completes its item alone (people only label what a reviewer gives back)
    and is always re-checked (reviews.checks_sample), so the submit takes the checked path."""
    return project.mode == AnnotationProject.Mode.AI_FIRST and kind == Annotation.AnnotatorKind.AI


def submit_overlap(*, project: AnnotationProject, kind: str) -> int:
    """The submissions that complete an item, for this submit (see ai_first_answer)."""
    return 1 if ai_first_answer(project=project, kind=kind) else project.overlap


def submit_record(*, assignment: Assignment, project: AnnotationProject, labels: list[Label], correction: str,
                  comment: str, kind: str, time_spent_ms: int, submitted_by, rating: int | None, free_text: str,
                  preference: str, ranking: list) -> Annotation | None:
    """Record a checked answer under the task lock: the assignment moves to submitted, the annotation and its labels
    are stored, the task counts it (completing at the overlap), gold is scored, checks are drawn and a disagreement is
    sent to an expert, with the "submitted" history row; all in one transaction.

    Returns None, changing nothing, when the assignment is no longer active and unexpired (the caller says why).
    On PostgreSQL a project without sampled checks needs no transaction around the function: it is one statement.
    """
    answer = {"assignment": assignment, "project": project, "labels": labels, "correction": correction,
              "comment": comment, "kind": kind, "time_spent_ms": time_spent_ms, "submitted_by": submitted_by,
              "rating": rating, "free_text": free_text, "preference": preference, "ranking": ranking,
              "overlap": submit_overlap(project=project, kind=kind)}
    if connection.vendor != "postgresql":
        return _submit_portable(**answer)
    if not (project.review_rate or project.spot_check_rate or ai_first_answer(project=project, kind=kind)):
        return _submit_function(**answer)
    with transaction.atomic():
        annotation = _submit_function(**answer)
        if annotation is not None:
            reviews = _checks_sample(project=project, task_id=assignment.task_id, annotation=annotation)
            if reviews:
                Review.objects.bulk_create(reviews)
    return annotation


def _submit_function(*, assignment, project, labels, correction, comment, kind, time_spent_ms, submitted_by, rating,
                     free_text, preference, ranking, overlap) -> Annotation | None:
    after = _history_after(assignment=assignment, labels=labels, correction=correction, time_spent_ms=time_spent_ms,
                           kind=kind, rating=rating, free_text=free_text, preference=preference, ranking=ranking)
    rows = list(Annotation.objects.raw(
        "SELECT * FROM annotation_submit_record(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::bigint[], %s::text[], "
        "%s::integer, %s, %s, %s::jsonb, %s, %s::jsonb)",
        [assignment.task_id, assignment.pk, submitted_by.pk, overlap, timezone.now(), kind, correction, comment,
         time_spent_ms, [label.pk for label in labels], [label.path for label in labels], rating, free_text,
         preference, json.dumps(ranking), project.disagreement_threshold, json.dumps(after)]))
    return rows[0] if rows else None


@transaction.atomic
def _submit_portable(*, assignment, project, labels, correction, comment, kind, time_spent_ms, submitted_by, rating,
                     free_text, preference, ranking, overlap) -> Annotation | None:
    task = task_lock(task_id=assignment.task_id)
    now = timezone.now()
    # The update is the check: under the task lock no claim or skip can change the assignment, and a heartbeat only
    # moves a live lease forward (the update waits for it and re-checks).
    moved = Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.ACTIVE, expires_at__gt=now).update(
        status=Assignment.Status.SUBMITTED, finished_at=now)
    if not moved:
        return None
    annotation = Annotation.objects.create(
        task=task, assignment_id=assignment.pk, annotator=submitted_by, annotator_kind=kind,
        corrected_response=correction, comment=comment, rating=rating, free_text=free_text, preference=preference,
        ranking=ranking, time_spent_ms=time_spent_ms,
        gold_correct=sorted(label.path for label in labels) == sorted(task.gold_labels) if task.is_gold else None,
    )
    Annotation.labels.through.objects.bulk_create(
        [Annotation.labels.through(annotation=annotation, label=label) for label in labels])
    AnnotationTask.objects.filter(pk=task.pk).update(
        submitted_count=F("submitted_count") + 1,
        # Both sides read the row as it was before this update.
        is_complete=Case(When(submitted_count__gte=overlap - 1, then=Value(True)), default=F("is_complete")),
    )
    reviews = _checks_sample(project=project, task_id=task.pk, annotation=annotation)
    if task.submitted_count + 1 >= overlap > 1:
        review = disagreement_review(task=task, threshold=project.disagreement_threshold)
        if review is not None:
            reviews.append(review)
    if reviews:
        Review.objects.bulk_create(reviews)
    history_record(actor=submitted_by, target=annotation, verb="submitted",
                   after=_history_after(assignment=assignment, labels=labels, correction=correction,
                                        time_spent_ms=time_spent_ms, kind=kind, rating=rating, free_text=free_text,
                                        preference=preference, ranking=ranking))
    return annotation


def _checks_sample(**kwargs) -> list[Review]:
    # Imported here: the reviews module imports annotations, which imports this one.
    from annotation.services.reviews import checks_sample

    return checks_sample(**kwargs)


def _history_after(
    *,
    assignment: Assignment,
    labels: list[Label],
    correction: str,
    time_spent_ms: int,
    kind: str,
    rating: int | None = None,
    free_text: str = "",
    preference: str = "",
    ranking: list | None = None,
) -> dict:
    after = {"assignment": assignment.pk, "task": assignment.task_id, "labels": [label.path for label in labels],
             "corrected": bool(correction), "time_spent_ms": time_spent_ms, "annotator_kind": kind}
    # Only the answers given, so the history of a labels-only schema carries labels only.
    if rating is not None:
        after["rating"] = rating
    if free_text:
        after["free_text"] = True
    if preference:
        after["preference"] = preference
    if ranking:
        after["ranking"] = ranking
    return after


# The disagreement rule -----------------------------------------------------------------------------------------------

def task_disagreement(*, task: AnnotationTask) -> float:
    """1 - the share of the item's annotations that gave its most common label set (0 when all agree, or no annotation
    has labels). As submit.sql computes it: in floating point, over the annotations that have labels."""
    answers: dict[int, set] = {}
    chosen = Annotation.labels.through.objects.filter(annotation__task=task).values_list("annotation_id", "label_id")
    for annotation_id, label_id in chosen:
        answers.setdefault(annotation_id, set()).add(label_id)
    if not answers:
        return 0.0
    counts = Counter(frozenset(answer) for answer in answers.values())
    return 1 - max(counts.values()) / len(answers)


def disagreement_review(*, task: AnnotationTask, threshold: float) -> Review | None:
    """The expert check (unsaved) for an item just completed by several annotators whose answers disagree beyond
    `threshold`, else None. The caller decides that the item completed with an overlap above 1."""
    disagreement = task_disagreement(task=task)
    if disagreement <= threshold:
        return None
    return Review(task=task, layer=Review.Layer.DISAGREEMENT,
                  sampled_because=f"disagreement {two_places(disagreement)}")


def two_places(value: float) -> str:
    """`value` with two decimals as submit.sql writes it: cast to numeric (15 significant digits), rounded half away
    from zero; 0.125 is 0.13 (Python's own formatting would give 0.12)."""
    return str(Decimal(f"{value:.15g}").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
