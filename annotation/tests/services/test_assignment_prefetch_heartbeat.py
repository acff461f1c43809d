from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import AnnotationProject, Assignment
from annotation.services import assignment_claim_next, assignment_heartbeat, assignment_prefetch, assignment_skip
from annotation.tests.fixtures import submit_as
from common.errors import ApplicationError


def _age(assignment, *, seconds_left: int):
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() + timedelta(seconds=seconds_left))


def test_prefetch_leases_two_ahead_and_claim_walks_them_in_order(annotation_project_factory, users):
    project = annotation_project_factory(n=5)
    annotator = users["crowd_annotator"]
    held = assignment_prefetch(project=project, annotator=annotator)
    tasks = list(project.tasks.order_by("pk").values_list("pk", flat=True))
    assert [a.task_id for a in held] == tasks[:3]
    # Prefetching again claims nothing new: the annotator already holds 1 + 2.
    assert [a.pk for a in assignment_prefetch(project=project, annotator=annotator)] == [a.pk for a in held]
    assert assignment_claim_next(project=project, annotator=annotator) == held[0]
    submit_as(annotator, held[0], "billing/refund")
    assert assignment_claim_next(project=project, annotator=annotator) == held[1]
    # Other annotators get the tasks nobody holds.
    assert assignment_claim_next(project=project, annotator=users["staff_annotator"]).task_id == tasks[3]


def test_prefetch_with_overlap_never_leases_one_task_twice_to_one_annotator(annotation_project_factory, users):
    project = annotation_project_factory(n=2, overlap=2)
    held = assignment_prefetch(project=project, annotator=users["crowd_annotator"], ahead=2)
    assert sorted(a.task_id for a in held) == sorted(project.tasks.values_list("pk", flat=True))
    assert Assignment.objects.filter(status="active").count() == 2


def test_prefetch_ahead_zero_is_a_claim_and_bounds_are_checked(annotation_project_factory, users):
    project = annotation_project_factory(n=3)
    assert len(assignment_prefetch(project=project, annotator=users["crowd_annotator"], ahead=0)) == 1
    for bad in (-1, 3, True):
        with pytest.raises(ApplicationError) as error:
            assignment_prefetch(project=project, annotator=users["crowd_annotator"], ahead=bad)
        assert (error.value.where, error.value.message) == ("ahead", "must be a whole number between 0 and 2")
    assert Assignment.objects.count() == 1


def test_prefetch_returns_an_empty_list_when_nothing_is_left(annotation_project_factory, users):
    project = annotation_project_factory(n=1)
    assignment_claim_next(project=project, annotator=users["staff_annotator"])
    assert assignment_prefetch(project=project, annotator=users["crowd_annotator"]) == []


def test_heartbeat_renews_the_current_and_the_prefetched_leases(annotation_project_factory, users):
    project = annotation_project_factory(n=4, lease_seconds=120)
    annotator = users["crowd_annotator"]
    held = assignment_prefetch(project=project, annotator=annotator)
    for assignment in held:
        _age(assignment, seconds_left=5)
    before = timezone.now()
    renewed = assignment_heartbeat(assignment=held[0], annotator=annotator)
    assert [a.pk for a in renewed] == [a.pk for a in held]
    for assignment in Assignment.objects.filter(pk__in=[a.pk for a in held]):
        assert before + timedelta(seconds=119) < assignment.expires_at <= timezone.now() + timedelta(seconds=120)


def test_heartbeat_refuses_expired_submitted_skipped_and_foreign_leases(annotation_project_factory, users):
    project = annotation_project_factory(n=4)
    annotator = users["crowd_annotator"]
    first = assignment_claim_next(project=project, annotator=annotator)
    with pytest.raises(ApplicationError) as error:
        assignment_heartbeat(assignment=first, annotator=users["staff_annotator"])
    assert (error.value.where, error.value.code) == ("assignment", "not_yours")
    _age(first, seconds_left=-1)
    with pytest.raises(ApplicationError) as error:
        assignment_heartbeat(assignment=first, annotator=annotator)
    assert error.value.code == "expired"
    second = assignment_claim_next(project=project, annotator=annotator)
    submit_as(annotator, second, "billing/refund")
    with pytest.raises(ApplicationError) as error:
        assignment_heartbeat(assignment=second, annotator=annotator)
    assert (error.value.code, error.value.message) == ("submitted", "this item is submitted; nothing to renew")
    third = assignment_claim_next(project=project, annotator=annotator)
    assignment_skip(assignment=third, reason="unclear")
    with pytest.raises(ApplicationError) as error:
        assignment_heartbeat(assignment=third, annotator=annotator)
    assert error.value.code == "skipped"


def test_heartbeat_and_prefetch_refuse_a_closed_project(annotation_project, users):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    AnnotationProject.objects.filter(pk=annotation_project.pk).update(status="closed")
    annotation_project.refresh_from_db()
    for call in (lambda: assignment_heartbeat(assignment=assignment, annotator=users["crowd_annotator"]),
                 lambda: assignment_prefetch(project=annotation_project, annotator=users["crowd_annotator"])):
        with pytest.raises(ApplicationError) as error:
            call()
        assert error.value.code == "closed"


def test_a_renewed_lease_is_not_expired_by_another_claim(annotation_project_factory, users):
    project = annotation_project_factory(n=1)
    mine = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    _age(mine, seconds_left=2)
    assignment_heartbeat(assignment=mine, annotator=users["crowd_annotator"])
    assert assignment_claim_next(project=project, annotator=users["staff_annotator"]) is None
    mine.refresh_from_db()
    assert mine.status == "active"
