"""Every select_for_update of the annotation app, in one place, with the order locks are taken in.

Lock order (always this way round, so two transactions never wait on each other in a cycle):
    annotator (user row) -> annotation task -> assignment
A claim takes the annotator, then task rows (skipping locked ones; waiting for one only when every candidate is
locked), then may expire that task's assignments. The claim that waits holds no lock the holder needs: a claim
holding a task row never asks for another annotator's row, and a submit never asks for an annotator row.
A submit or skip takes the task, then its assignment. Nothing takes a task while holding an assignment.
A heartbeat takes the annotator, then that annotator's live assignments (no task).
A review claim takes the reviewer (user row), then review rows; a decision takes one review row. Reviews never take
tasks or assignments, except the rejection of an AI answer in an AI-first project, which then takes its task and
assignment to give the item back; a submit creates review rows without locking any, so no one holding a task waits
for a review row.
All helpers must run inside transaction.atomic(); on SQLite they lock nothing (the write lock serialises instead).
On PostgreSQL a claim runs as the function annotation_claim (annotation/sql/claim.sql), which takes the same locks in
the same order: annotator, then task rows (skip locked, else wait), then that task's assignments; a submit runs as
annotation_submit_record (annotation/sql/submit.sql): the task, then its assignment.
"""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from accounts.models import Workspace
from annotation.models import AnnotationTask, Assignment, Review


def annotator_lock(*, annotator) -> None:
    """Serialise the claims of one annotator, so two browser tabs get the same item instead of two."""
    get_user_model().objects.select_for_update().filter(pk=annotator.pk).values_list("pk", flat=True).first()


def workspace_lock(*, workspace: Workspace) -> None:
    """Serialise label schema publishing in a workspace, so version numbers of one name never collide."""
    Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk", flat=True).first()


def task_lock(*, task_id: int) -> AnnotationTask:
    """Wait for and hold one task row (submit, skip)."""
    return AnnotationTask.objects.select_for_update().get(pk=task_id)


def tasks_lock_free(queryset: QuerySet, *, limit: int) -> list[AnnotationTask]:
    """Lock up to `limit` rows of `queryset`, passing over rows another transaction holds (the queue's claim)."""
    return list(queryset.select_for_update(skip_locked=True)[:limit])


def tasks_lock_wait(queryset: QuerySet, *, limit: int) -> list[AnnotationTask]:
    """Lock up to `limit` rows of `queryset`, waiting for rows another transaction holds (the queue's last resort)."""
    return list(queryset.select_for_update()[:limit])


def assignments_lock_live(*, project_id: int, annotator_id: int, now) -> list[Assignment]:
    """Hold the annotator's unexpired active leases in a project, oldest first (the heartbeat; take annotator_lock
    first).

    Assignments without their tasks: the renewal only moves `expires_at` forward on rows that have not run out, and
    no claim or submit changes such a row's slot, so no task lock is needed.
    """
    live = Assignment.objects.filter(
        task__project_id=project_id, annotator_id=annotator_id, status=Assignment.Status.ACTIVE, expires_at__gt=now
    )
    return list(live.select_for_update(of=("self",)).order_by("claimed_at", "pk"))


def assignment_lock(*, assignment_id: int) -> Assignment:
    """Hold one assignment row; take its task's lock first (task_lock)."""
    return Assignment.objects.select_for_update().get(pk=assignment_id)



def reviews_lock_free(queryset: QuerySet, *, limit: int) -> list[Review]:
    """Lock up to `limit` review rows of `queryset`, passing over rows another reviewer holds."""
    return list(queryset.select_for_update(skip_locked=True, of=("self",))[:limit])


def review_lock(*, review_id: int) -> Review:
    """Wait for and hold one review row (a decision)."""
    return Review.objects.select_for_update().get(pk=review_id)
