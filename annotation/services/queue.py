"""The work queue: claim the next item, skip it.

Concurrency rules:
- Task rows are claimed with select_for_update(skip_locked=True): concurrent annotators pass over each other's
  rows instead of queueing behind them.
- A task has `overlap` slots; an assignment takes one. The partial unique constraints on Assignment allow one live
  (active or submitted) assignment per slot and per annotator, so over-assignment is impossible even if a check
  here were wrong: the database refuses the row.
- A lease runs out at `expires_at`. Expired leases are marked expired by the next claim that locks their task,
  and their slots are reused; a submit holding the task lock cannot race with that.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.lock_objects import annotator_lock, assignment_lock, task_lock, tasks_lock_free
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
        locked = tasks_lock_free(_claimable_tasks(project=project, annotator=annotator, now=now).exclude(pk__in=passed_over), limit=1)
        if not locked:
            return None
        assignment = _slot_take(task=locked[0], project=project, annotator=annotator, now=now)
        if assignment is not None:
            return assignment
        # The candidate query read an older snapshot than the lock; this task filled up meanwhile.
        passed_over.append(locked[0].pk)


def _claimable_tasks(*, project: AnnotationProject, annotator, now):
    done_by_annotator = Assignment.objects.filter(task=OuterRef("pk"), annotator=annotator,
                                                  status__in=[Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED])
    live = Assignment.objects.filter(Q(status=Assignment.Status.SUBMITTED) | Q(status=Assignment.Status.ACTIVE, expires_at__gt=now),
                                     task=OuterRef("pk"))
    tasks = AnnotationTask.objects.filter(project=project, is_complete=False).exclude(Exists(done_by_annotator))
    if project.overlap == 1:
        tasks = tasks.exclude(Exists(live))
    else:
        live_count = live.order_by().values("task").annotate(n=Count("pk")).values("n")
        tasks = (tasks.alias(live_count=Coalesce(Subquery(live_count, output_field=IntegerField()), 0))
                 .filter(live_count__lt=project.overlap))
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
