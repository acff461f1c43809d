"""The work queue: claim the next item, lease one or two more ahead of time, keep leases alive, skip an item.

Concurrency rules:
- Task rows are claimed with select_for_update(skip_locked=True): concurrent annotators pass over each other's
  rows instead of queueing behind them. Only when every candidate is locked does a claim wait for one, so "None"
  means nothing is left for this annotator, not that everything was busy for a moment.
- A task has `overlap` slots; an assignment takes one. The partial unique constraints on Assignment allow one live
  (active or submitted) assignment per slot and per annotator, so over-assignment is impossible even if a check
  here were wrong: the database refuses the row.
- A lease runs out at `expires_at`. Expired leases are marked expired by the next claim that locks their task,
  and their slots are reused; a submit holding the task lock cannot race with that. A heartbeat moves the
  annotator's live leases forward; the expiring update re-checks `expires_at` under the row lock, so a lease renewed
  a moment ago is never expired by a claim that read it before the renewal.
- Prefetch: an annotator may hold up to 1 + MAX_AHEAD leases in a project. The workbench asks for them in the
  background, so the claim after a submit finds a lease already held (an index probe) instead of scanning the queue.
- On PostgreSQL the claim is one call of the function annotation_claim (migration 0005), the same steps and locks as
  _claim_leases_portable below, so a claim costs one round trip instead of eight; with 50 annotators on a busy
  2-core machine every round trip is a wait for a core, and that wait, not the query, was most of a claim's time.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.lock_objects import (
    annotator_lock,
    assignment_lock,
    assignments_lock_live,
    task_lock,
    tasks_lock_free,
    tasks_lock_wait,
)
from annotation.models import AnnotationProject, AnnotationTask, Assignment
from annotation.services.annotations import annotator_kind_for
from common.errors import ApplicationError
from common.history import history_record

LIVE = (Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED)
MAX_AHEAD = 2


def assignment_claim_next(*, project: AnnotationProject, annotator) -> Assignment | None:
    """The annotator's next item: their oldest unexpired active assignment in the project if they hold one (the current
    item, or one leased ahead), otherwise a new lease on the first incomplete task they have neither submitted nor
    skipped and that has a free slot.

    Returns None when nothing is left for this annotator. Permission to work on the project is the caller's check.
    """
    _open_check(project)
    held = _claim(project=project, annotator=annotator, want=1)
    return held[0] if held else None


def assignment_prefetch(*, project: AnnotationProject, annotator, ahead: int = MAX_AHEAD) -> list[Assignment]:
    """Hold the current item plus up to `ahead` (0..MAX_AHEAD) more leases, claiming what is missing.

    Returns the annotator's live leases in the project, the current item first; an empty list when nothing is left.
    Leases held beyond `ahead` are kept, not given back (a second tab may be showing them).
    """
    _open_check(project)
    if isinstance(ahead, bool) or not isinstance(ahead, int) or not 0 <= ahead <= MAX_AHEAD:
        raise ApplicationError(f"must be a whole number between 0 and {MAX_AHEAD}", where="ahead")
    return _claim(project=project, annotator=annotator, want=1 + ahead)


def assignment_claim_batch(*, project: AnnotationProject, annotator, size: int) -> list[Assignment]:
    """Hold up to `size` leases in the project, claiming what is missing; for jobs that label in batches (an AI
    annotator), through the same claim as people. Returns the annotator's live leases, oldest first."""
    _open_check(project)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ApplicationError("must be a whole number of at least 1", where="size")
    return _claim(project=project, annotator=annotator, want=size)


@transaction.atomic
def assignment_release(*, assignment: Assignment, released_by, reason: str = "") -> Assignment:
    """Give a lease back so the item can be offered again, to anyone, this annotator included (unlike a skip): for a
    job whose call failed for a reason that may pass. Only an active lease of `released_by` moves (to expired)."""
    task_lock(task_id=assignment.task_id)
    locked = assignment_lock(assignment_id=assignment.pk)
    if locked.annotator_id != released_by.pk:
        raise ApplicationError("this item is assigned to another annotator", where="assignment", code="not_yours")
    if locked.status != Assignment.Status.ACTIVE:
        return locked
    locked.status = Assignment.Status.EXPIRED
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "finished_at"])
    history_record(actor=released_by, target=locked, verb="released", before={"status": Assignment.Status.ACTIVE},
                   after={"status": locked.status, "reason": " ".join((reason or "").split())[:500]})
    return locked


def _claim(*, project: AnnotationProject, annotator, want: int) -> list[Assignment]:
    """The annotator's live leases in the project, oldest first, after claiming new ones until they hold `want` (fewer
    when nothing is left). An annotator outside the project's labelling pools keeps the leases they hold but gets no new
    one: refused when they hold fewer than `want`."""
    if project.label_pools and annotator_kind_for(user=annotator, workspace=project.workspace) not in project.label_pools:
        held = _claim_leases(project=project, annotator=annotator, want=0)
        if len(held) < want:
            raise ApplicationError(f"this project is labelled by {', '.join(project.label_pools)} annotators only", where="project",
                                   code="not_in_pool")
        return held
    return _claim_leases(project=project, annotator=annotator, want=want)


def _claim_leases(*, project: AnnotationProject, annotator, want: int) -> list[Assignment]:
    """On PostgreSQL one call of the function annotation_claim (migration 0005: the steps below as one round trip; when
    the claim is its own transaction its commit does not wait for the disk, see the migration); elsewhere the same
    steps from Python."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        return list(Assignment.objects.raw(
            "SELECT * FROM annotation_claim(%s, %s, %s, %s, %s, %s, %s)",
            [project.pk, annotator.pk, project.overlap, project.lease_seconds, now, want, not connection.in_atomic_block]))
    return _claim_leases_portable(project=project, annotator=annotator, want=want, now=now)


@transaction.atomic
def _claim_leases_portable(*, project: AnnotationProject, annotator, want: int, now) -> list[Assignment]:
    annotator_lock(annotator=annotator)
    held = list(_own_active(project=project, annotator=annotator, now=now))
    while len(held) < want:
        assignment = _claim_one(project=project, annotator=annotator, now=now)
        if assignment is None:
            break
        held.append(assignment)
    return held


@transaction.atomic
def assignment_heartbeat(*, assignment: Assignment, annotator) -> list[Assignment]:
    """Renew the lease on `assignment` and on every other live lease of the annotator in its project (the items
    leased ahead), each to now + the project's lease length. Returns the renewed leases, the current item first.

    Refused when the assignment is someone else's, was submitted or skipped, or its lease already ran out: an
    expired slot may be someone else's by now, so the annotator claims again instead.
    """
    if assignment.annotator_id != annotator.pk:
        raise ApplicationError("this item is assigned to another annotator", where="assignment", code="not_yours")
    project = AnnotationProject.objects.only("pk", "lease_seconds", "status").get(tasks__pk=assignment.task_id)
    _open_check(project)
    now = timezone.now()
    annotator_lock(annotator=annotator)
    live = assignments_lock_live(project_id=project.pk, annotator_id=annotator.pk, now=now)
    if assignment.pk not in {a.pk for a in live}:
        current = Assignment.objects.only("status", "expires_at").get(pk=assignment.pk)
        if current.status == Assignment.Status.ACTIVE:
            raise ApplicationError(f"the lease on this item expired at {current.expires_at:%Y-%m-%d %H:%M:%S} UTC; claim the next one",
                                   where="assignment", code="expired")
        raise ApplicationError(f"this item is {current.get_status_display().lower()}; nothing to renew", where="assignment",
                               code=current.status)
    expires_at = now + timedelta(seconds=project.lease_seconds)
    Assignment.objects.filter(pk__in=[a.pk for a in live]).update(expires_at=expires_at)
    for renewed in live:
        renewed.expires_at = expires_at
    return live


def _open_check(project: AnnotationProject) -> None:
    if project.status != AnnotationProject.Status.OPEN:
        raise ApplicationError("the project is closed", where="project", code="closed")


def _own_active(*, project: AnnotationProject, annotator, now):
    return (Assignment.objects.filter(task__project=project, annotator=annotator, status=Assignment.Status.ACTIVE, expires_at__gt=now)
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
        Q(status__in=[Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED]) | Q(status=Assignment.Status.ACTIVE, expires_at__gt=now),
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
    rows = list(Assignment.objects.filter(task=task, status__in=LIVE).values_list("pk", "slot", "annotator_id", "status", "expires_at"))
    stale = [pk for pk, _, _, status, expires_at in rows if status == Assignment.Status.ACTIVE and expires_at <= now]
    if stale:
        # expires_at again: PostgreSQL re-checks the condition on the locked row, so a lease renewed since is left alone.
        expired = Assignment.objects.filter(pk__in=stale, status=Assignment.Status.ACTIVE, expires_at__lte=now).update(
            status=Assignment.Status.EXPIRED, finished_at=now)
        if expired != len(stale):
            rows = list(Assignment.objects.filter(task=task, status__in=LIVE).values_list("pk", "slot", "annotator_id", "status", "expires_at"))
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
