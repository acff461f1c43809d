from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Annotation, AnnotationTask, Assignment
from annotation.services import annotation_submit, assignment_claim_next, assignment_skip, label_schema_create
from annotation.tests.fixtures import label_id, submit_as
from common.errors import ApplicationError
from common.models import HistoryEvent


@pytest.fixture
def claimed(annotation_project, users):
    return assignment_claim_next(project=annotation_project, annotator=users["expert_annotator"])


def test_submit_records_labels_kind_time_and_completes_the_task(claimed, users, topic_schema):
    annotation = annotation_submit(
        assignment=claimed,
        label_ids=[label_id(topic_schema, "billing/refund")],
        corrected_response="",
        comment=" looks fine ",
        time_spent_ms=4200,
        submitted_by=users["expert_annotator"],
    )
    assert [l.path for l in annotation.labels.all()] == ["billing/refund"]
    assert (annotation.annotator_kind, annotation.comment, annotation.time_spent_ms) == ("expert", "looks fine", 4200)
    assert annotation.corrected_response == ""
    claimed.refresh_from_db()
    task = AnnotationTask.objects.get(pk=claimed.task_id)
    assert (claimed.status, task.submitted_count, task.is_complete) == ("submitted", 1, True)
    event = HistoryEvent.objects.get(verb="submitted")
    assert (event.actor, event.target_id) == (users["expert_annotator"], annotation.pk)
    assert (event.after["labels"], event.after["time_spent_ms"]) == (["billing/refund"], 4200)


def test_second_submit_returns_the_same_annotation_and_counts_once(claimed, users, topic_schema):
    refund, invoice = label_id(topic_schema, "billing/refund"), label_id(topic_schema, "billing/invoice")
    first = annotation_submit(
        assignment=claimed, label_ids=[refund], time_spent_ms=100, submitted_by=users["expert_annotator"]
    )
    second = annotation_submit(
        assignment=claimed, label_ids=[refund], time_spent_ms=900, submitted_by=users["expert_annotator"]
    )
    assert second.pk == first.pk
    with pytest.raises(ApplicationError) as changed:
        annotation_submit(
            assignment=claimed, label_ids=[invoice], time_spent_ms=900, submitted_by=users["expert_annotator"]
        )
    assert (changed.value.code, changed.value.where) == ("conflict", "assignment")
    assert [l.path for l in first.labels.all()] == ["billing/refund"]
    assert (Annotation.objects.count(), AnnotationTask.objects.get(pk=claimed.task_id).submitted_count) == (1, 1)


def test_overlap_two_completes_at_the_second_submit(annotation_project_factory, users, topic_schema):
    project = annotation_project_factory(n=1, overlap=2)
    refund = label_id(topic_schema, "billing/refund")
    a = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    b = assignment_claim_next(project=project, annotator=users["staff_annotator"])
    annotation_submit(assignment=a, label_ids=[refund], time_spent_ms=1, submitted_by=users["crowd_annotator"])
    task = AnnotationTask.objects.get(pk=a.task_id)
    assert (task.submitted_count, task.is_complete) == (1, False)
    annotation_submit(assignment=b, label_ids=[refund], time_spent_ms=1, submitted_by=users["staff_annotator"])
    task.refresh_from_db()
    assert (task.submitted_count, task.is_complete) == (2, True)
    assert sorted(Annotation.objects.values_list("annotator_kind", flat=True)) == ["crowd", "staff"]


@pytest.mark.parametrize(
    ("role", "kind"),
    [
        ("expert_annotator", "expert"),
        ("staff_annotator", "staff"),
        ("crowd_annotator", "crowd"),
        ("reviewer", "staff"),
        ("admin", "staff"),
    ],
)
def test_annotator_kind_follows_the_role(annotation_project, users, topic_schema, role, kind):
    assignment = assignment_claim_next(project=annotation_project, annotator=users[role])
    annotation = submit_as(users[role], assignment, "account/login")
    assert annotation.annotator_kind == kind


def test_someone_elses_assignment_is_refused(claimed, users, topic_schema):
    with pytest.raises(ApplicationError) as error:
        submit_as(users["crowd_annotator"], claimed, "billing/refund")
    assert (error.value.code, str(error.value)) == (
        "not_yours",
        "assignment: this item is assigned to another annotator",
    )
    assert Annotation.objects.count() == 0


def test_expired_assignment_is_refused_and_nothing_counts(claimed, users, topic_schema):
    expired_at = timezone.now() - timedelta(seconds=5)
    Assignment.objects.filter(pk=claimed.pk).update(expires_at=expired_at)
    with pytest.raises(ApplicationError) as error:
        submit_as(users["expert_annotator"], claimed, "billing/refund")
    assert error.value.code == "expired"
    assert (
        error.value.message
        == f"the lease on this item expired at {expired_at:%Y-%m-%d %H:%M:%S} UTC; claim the next one"
    )
    assert (Annotation.objects.count(), AnnotationTask.objects.get(pk=claimed.task_id).submitted_count) == (0, 0)


def test_skipped_assignment_cannot_be_submitted(claimed, users, topic_schema):
    assignment_skip(assignment=claimed, reason="unclear")
    with pytest.raises(ApplicationError) as error:
        submit_as(users["expert_annotator"], claimed, "billing/refund")
    assert error.value.code == "skipped"


def test_label_rules(claimed, users, topic_schema, workspace):
    def submit(ids):
        with pytest.raises(ApplicationError) as error:
            annotation_submit(
                assignment=claimed, label_ids=ids, time_spent_ms=1, submitted_by=users["expert_annotator"]
            )
        return str(error.value)

    refund, login, billing = (label_id(topic_schema, p) for p in ("billing/refund", "account/login", "billing"))
    foreign = label_id(label_schema_create(workspace=workspace, name="Other", tree=[{"name": "x"}]), "x")
    assert submit([]) == "label_ids: pick at least one label"
    assert submit([refund, login]) == "label_ids: this schema takes one label; 2 were picked"
    assert submit([billing]) == "label_ids[0]: 'billing' has sub-labels; pick one of them"
    assert submit([foreign]) == f"label_ids[0]: label {foreign} is not in the schema Topic v1"
    assert submit(["x"]) == "label_ids[0]: 'x' is not a label id"
    assert Annotation.objects.count() == 0


def test_multiple_and_inner_labels_when_the_schema_allows(annotation_project_factory, workspace, users):
    schema = label_schema_create(workspace=workspace, name="Loose", multiple=True, leaf_only=False,
                                 tree=[{"name": "billing", "children": [{"name": "refund"}]}, {"name": "account"}])
    project = annotation_project_factory(schema=schema)
    assignment = assignment_claim_next(project=project, annotator=users["staff_annotator"])
    annotation = submit_as(users["staff_annotator"], assignment, "billing", "account")
    assert sorted(l.path for l in annotation.labels.all()) == ["account", "billing"]


def test_correction_equal_to_the_original_is_no_correction(claimed, users, topic_schema):
    original = claimed.task.entry.record.response_text
    annotation = submit_as(users["expert_annotator"], claimed, "billing/refund", corrected_response=f"  {original}\r\n")
    assert annotation.corrected_response == ""


def test_negative_time_is_refused(claimed, users, topic_schema):
    with pytest.raises(ApplicationError) as error:
        submit_as(users["expert_annotator"], claimed, "billing/refund", time_spent_ms=-1)
    assert error.value.where == "time_spent_ms"
