from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import AnnotationProject, Assignment
from annotation.services import assignment_claim_next, assignment_skip
from annotation.tests.fixtures import submit_as
from common.errors import ApplicationError
from common.models import HistoryEvent


def _expire(assignment):
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_claims_tasks_in_order_and_returns_the_own_active_one_again(annotation_project, users):
    annotator = users["crowd_annotator"]
    first = assignment_claim_next(project=annotation_project, annotator=annotator)
    tasks = list(annotation_project.tasks.order_by("pk"))
    assert (first.task_id, first.slot, first.status, first.annotator) == (tasks[0].pk, 0, "active", annotator)
    assert first.expires_at - first.claimed_at == pytest.approx(timedelta(seconds=600), abs=timedelta(seconds=1))
    assert assignment_claim_next(project=annotation_project, annotator=annotator) == first
    other = assignment_claim_next(project=annotation_project, annotator=users["staff_annotator"])
    assert other.task_id == tasks[1].pk
    assert HistoryEvent.objects.filter(verb="claimed").count() == 2


def test_overlap_one_never_gives_a_task_twice_and_ends_with_none(annotation_project_factory, users):
    project = annotation_project_factory(n=2)
    a = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    b = assignment_claim_next(project=project, annotator=users["staff_annotator"])
    assert a.task_id != b.task_id
    assert assignment_claim_next(project=project, annotator=users["expert_annotator"]) is None


def test_overlap_two_gives_each_task_to_two_annotators_in_different_slots(
    annotation_project_factory, users, topic_schema
):
    project = annotation_project_factory(n=1, overlap=2)
    a = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    b = assignment_claim_next(project=project, annotator=users["staff_annotator"])
    assert (a.task_id, a.slot, b.task_id, b.slot) == (b.task_id, 0, a.task_id, 1)
    assert assignment_claim_next(project=project, annotator=users["expert_annotator"]) is None
    submit_as(users["crowd_annotator"], a, "billing/refund", time_spent_ms=10)
    # The annotator who submitted is never offered the same task again, even with a free slot.
    assert assignment_claim_next(project=project, annotator=users["crowd_annotator"]) is None


def test_expired_lease_is_marked_expired_and_its_slot_reused(annotation_project_factory, users):
    project = annotation_project_factory(n=1)
    stale = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    _expire(stale)
    fresh = assignment_claim_next(project=project, annotator=users["staff_annotator"])
    stale.refresh_from_db()
    assert (fresh.task_id, fresh.slot) == (stale.task_id, 0)
    assert (stale.status, stale.finished_at is not None) == ("expired", True)
    assert HistoryEvent.objects.get(verb="claimed", target_id=fresh.pk).after["expired"] == [stale.pk]


def test_own_expired_lease_is_not_returned_but_its_task_may_be_claimed_again(annotation_project_factory, users):
    project = annotation_project_factory(n=1)
    annotator = users["crowd_annotator"]
    stale = assignment_claim_next(project=project, annotator=annotator)
    _expire(stale)
    again = assignment_claim_next(project=project, annotator=annotator)
    assert again.pk != stale.pk
    assert (again.task_id, Assignment.objects.get(pk=stale.pk).status) == (stale.task_id, "expired")


def test_skipped_task_goes_to_others_not_back_to_the_skipper(annotation_project_factory, users):
    project = annotation_project_factory(n=1)
    mine = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    assignment_skip(assignment=mine, reason="not English")
    assert assignment_claim_next(project=project, annotator=users["crowd_annotator"]) is None
    assert assignment_claim_next(project=project, annotator=users["staff_annotator"]).task_id == mine.task_id


def test_closed_project_refuses_claims(annotation_project, users):
    AnnotationProject.objects.filter(pk=annotation_project.pk).update(status="closed")
    annotation_project.refresh_from_db()
    with pytest.raises(ApplicationError) as error:
        assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    assert (error.value.code, str(error.value)) == ("closed", "project: the project is closed")
