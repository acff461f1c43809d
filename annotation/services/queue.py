"""The work queue: claim the next item, skip it.

Concurrency rules:
- Task rows are claimed with select_for_update(skip_locked=True): concurrent annotators pass over each other's
  rows instead of queueing behind them. Only when every candidate is locked does a claim wait for one, so "None"
  means nothing is left for this annotator, not that everything was busy for a moment.
- A task has `overlap` slots; an assignment takes one. The partial unique constraints on Assignment allow one live
  (active or submitted) assignment per slot and per annotator, so over-assignment is impossible even if a check
  here were wrong: the database refuses the row.
- A lease runs out at `expires_at`. Expired leases are marked expired by the next claim that locks their task,
  and their slots are reused; a submit holding the task lock cannot race with that.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.lock_objects import annotator_lock, assignment_lock, task_lock, tasks_lock_free, tasks_lock_wait
from annotation.models import AnnotationProject, AnnotationTask, Assignment
from common.errors import ApplicationError
from common.history import history_record

LIVE = (Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED)


@transaction.atomic
def assignment_claim_next(*, project: AnnotationProject, annotator) -> Assignment | None:
    """The annotator's next item: their own unexpired active assignment in the project if they hold one, otherwise a
    new lease on the first incomplete task they have neither submitted nor skipped and that has a free slot.

    Returns None when nothing is left for this annotator. Permission to work on the project is the caller's check.
    """
    if project.status != AnnotationProject.Status.OPEN:
        raise ApplicationError("the project is closed", where="project", code="closed")
    now = timezone.now()
    annotator_lock(annotator=annotator)
    own = (Assignment.objects.filter(task__project=project, annotator=annotator, status=Assignment.Status.ACTIVE, expires_at__gt=now)
           .order_by("claimed_at", "pk").first())
    if own is not None:
        return own
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
    """Incomplete tasks, in id order, that the annotator has not submitted or skipped and that seem to have a free slot.

    A slot is taken by a submitted annotation (counted in `submitted_count`) or an unexpired active lease. This reads
    a snapshot; _slot_take re-checks under the row lock.
    """
    done_by_annotator = Assignment.objects.filter(task=OuterRef("pk"), annotator=annotator,
                                                  status__in=[Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED])
    leased = Assignment.objects.filter(task=OuterRef("pk"), status=Assignment.Status.ACTIVE, expires_at__gt=now)
    tasks = AnnotationTask.objects.filter(project=project, is_complete=False).exclude(Exists(done_by_annotator))
    if project.overlap == 1:
        # An incomplete task of a single-overlap project has no submission, so only a lease can hold its slot.
        tasks = tasks.exclude(Exists(leased))
    else:
        leases = leased.order_by().values("task").annotate(n=Count("pk")).values("n")
        tasks = (tasks.alias(taken=F("submitted_count") + Coalesce(Subquery(leases, output_field=IntegerField()), 0))
                 .filter(taken__lt=project.overlap))
    return tasks.order_by("pk")


def _slot_take(*, task: AnnotationTask, project: AnnotationProject, annotator, now) -> Assignment | None:
    """With the task row locked: expire its stale leases, then lease its lowest free slot (None if there is none)."""
    if task.is_complete:
        return None
    stale = list(Assignment.objects.filter(task=task, status=Assignment.Status.ACTIVE, expires_at__lte=now).values_list("pk", flat=True))
    if stale:
        Assignment.objects.filter(pk__in=stale, status=Assignment.Status.ACTIVE).update(status=Assignment.Status.EXPIRED, finished_at=now)
    live = list(Assignment.objects.filter(task=task, status__in=LIVE).values_list("slot", "annotator_id"))
    if any(annotator_id == annotator.pk for _, annotator_id in live):
        return None
    used = {slot for slot, _ in live}
    free = next((slot for slot in range(project.overlap) if slot not in used), None)
    if free is None:
        return None
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(task=task, annotator=annotator, slot=free,
                                                   expires_at=now + timedelta(seconds=project.lease_seconds))
    except IntegrityError:
        return None
    history_record(actor=annotator, target=assignment, verb="claimed",
                   after={"task": task.pk, "slot": free, "expires_at": assignment.expires_at.isoformat(), "expired": stale})
    return assignment


@transaction.atomic
def assignment_skip(*, assignment: Assignment, reason: str = "", skipped_by=None) -> Assignment:
    """Give an item back: its slot frees at once and the annotator is not offered it again. Skipping twice is a no-op.

    `skipped_by` defaults to the assignment's annotator; anyone else is refused.
    """
    actor = skipped_by if skipped_by is not None else assignment.annotator
    task_lock(task_id=assignment.task_id)
    locked = assignment_lock(assignment_id=assignment.pk)
    if locked.annotator_id != actor.pk:
        raise ApplicationError("this item is assigned to another annotator", where="assignment", code="not_yours")
    if locked.status == Assignment.Status.SKIPPED:
        return locked
    if locked.status == Assignment.Status.SUBMITTED:
        raise ApplicationError("this item is already submitted; it cannot be skipped", where="assignment", code="submitted")
    before = locked.status
    locked.status = Assignment.Status.SKIPPED
    locked.finished_at = timezone.now()
    locked.skip_reason = " ".join((reason or "").split())[:500]
    locked.save(update_fields=["status", "finished_at", "skip_reason"])
    history_record(actor=actor, target=locked, verb="skipped", before={"status": before},
                   after={"status": locked.status, "reason": locked.skip_reason})
    return locked
