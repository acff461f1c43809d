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
- The claim's locked steps are in queue_paths: on PostgreSQL one call of the function annotation_claim
  (annotation/sql/claim.sql), elsewhere the same steps and locks from Python.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from annotation.lock_objects import annotator_lock, assignment_lock, assignments_lock_live, task_lock
from annotation.models import AnnotationProject, Assignment
from annotation.services.annotations import annotator_kind_for
from annotation.services.queue_paths import claim_leases
from common.errors import ApplicationError
from common.history import history_record

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
    if (
        project.label_pools
        and annotator_kind_for(user=annotator, workspace=project.workspace) not in project.label_pools
    ):
        held = claim_leases(project=project, annotator=annotator, want=0)
        if len(held) < want:
            raise ApplicationError(
                f"this project is labelled by {', '.join(project.label_pools)} annotators only",
                where="project",
                code="not_in_pool",
            )
        return held
    return claim_leases(project=project, annotator=annotator, want=want)


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
            raise ApplicationError(
                f"the lease on this item expired at {current.expires_at:%Y-%m-%d %H:%M:%S} UTC; claim the next one",
                where="assignment",
                code="expired",
            )
        raise ApplicationError(
            f"this item is {current.get_status_display().lower()}; nothing to renew",
            where="assignment",
            code=current.status,
        )
    expires_at = now + timedelta(seconds=project.lease_seconds)
    Assignment.objects.filter(pk__in=[a.pk for a in live]).update(expires_at=expires_at)
    for renewed in live:
        renewed.expires_at = expires_at
    return live


def _open_check(project: AnnotationProject) -> None:
    if project.status != AnnotationProject.Status.OPEN:
        raise ApplicationError("the project is closed", where="project", code="closed")


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
        raise ApplicationError(
            "this item is already submitted; it cannot be skipped", where="assignment", code="submitted"
        )
    before = locked.status
    locked.status = Assignment.Status.SKIPPED
    locked.finished_at = timezone.now()
    locked.skip_reason = " ".join((reason or "").split())[:500]
    locked.save(update_fields=["status", "finished_at", "skip_reason"])
    history_record(actor=actor, target=locked, verb="skipped", before={"status": before},
                   after={"status": locked.status, "reason": locked.skip_reason})
    return locked
