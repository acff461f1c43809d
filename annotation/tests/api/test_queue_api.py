from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from annotation.models import Annotation, Assignment
from annotation.services import assignment_claim_next
from annotation.tests.fixtures import label_id

WORKERS = {"admin", "reviewer", "expert_annotator", "staff_annotator", "crowd_annotator"}


def claim_url(project):
    return f"/api/v1/annotation/projects/{project.pk}/claim/"


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_claim_per_role(api_for, users, annotation_project, role):
    response = api_for(users[role]).post(claim_url(annotation_project))
    if role in WORKERS:
        assert response.status_code == 200
        assignment = Assignment.objects.get()
        body = response.json()
        record = assignment.task.entry.record
        assert (body["assignment_id"], body["task_id"], body["record_id"]) == (
            assignment.pk,
            assignment.task_id,
            record.pk,
        )
        assert body["conversation"] == record.messages
        assert (body["kind"], body["response"], body["correctable"]) == ("sft", "Answer 0: open Billing.", True)
        assert (body["multiple"], body["leaf_only"]) == (False, True)
        assert body["expires_at"] == assignment.expires_at.isoformat().replace("+00:00", "Z")
        assert [n["path"] for n in body["labels"]] == ["billing", "account"]
        assert body["labels"][0]["children"][0] == {
            "id": label_id(annotation_project.schema, "billing/refund"),
            "name": "refund",
            "path": "billing/refund",
            "description": "",
            "depth": 1,
            "selectable": True,
            "shortcut": 1,
            "children": [],
            "examples": [],
        }
    else:
        assert response.status_code == 404
        assert Assignment.objects.count() == 0


def test_claim_answers_204_when_the_queue_is_empty(api_for, users, annotation_project_factory):
    project = annotation_project_factory(n=1)
    assert api_for(users["crowd_annotator"]).post(claim_url(project)).status_code == 200
    assert api_for(users["staff_annotator"]).post(claim_url(project)).status_code == 204


def test_claim_twice_returns_the_same_item(api_for, users, annotation_project):
    client = api_for(users["crowd_annotator"])
    first = client.post(claim_url(annotation_project)).json()["assignment_id"]
    assert client.post(claim_url(annotation_project)).json()["assignment_id"] == first
    assert Assignment.objects.count() == 1


def test_submit_then_repeat_returns_the_same_annotation(api_for, users, annotation_project, topic_schema):
    client = api_for(users["expert_annotator"])
    assignment_id = client.post(claim_url(annotation_project)).json()["assignment_id"]
    payload = {
        "label_ids": [label_id(topic_schema, "account/login")],
        "corrected_response": "Use the reset link.",
        "comment": "ok",
        "time_spent_ms": 2500,
    }
    first = client.post(f"/api/v1/annotation/assignments/{assignment_id}/submit/", payload, format="json")
    assert first.status_code == 200
    body = first.json()
    assert (
        body["labels"],
        body["corrected_response"],
        body["annotator_kind"],
        body["time_spent_ms"],
        body["assignment_id"],
    ) == (["account/login"], "Use the reset link.", "expert", 2500, assignment_id)
    again = client.post(f"/api/v1/annotation/assignments/{assignment_id}/submit/", payload, format="json")
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    changed = client.post(
        f"/api/v1/annotation/assignments/{assignment_id}/submit/", {**payload, "label_ids": []}, format="json"
    )
    assert changed.status_code == 409
    assert changed.json() == {
        "detail": "this item was already submitted with a different answer; it cannot be changed here",
        "where": "assignment",
        "code": "conflict",
    }
    assert Annotation.objects.count() == 1


def test_submit_errors_name_the_place(api_for, users, annotation_project, topic_schema):
    client = api_for(users["crowd_annotator"])
    assignment_id = client.post(claim_url(annotation_project)).json()["assignment_id"]
    url = f"/api/v1/annotation/assignments/{assignment_id}/submit/"
    response = client.post(url, {"label_ids": [label_id(topic_schema, "billing")], "time_spent_ms": 1}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "'billing' has sub-labels; pick one of them",
        "where": "label_ids[0]",
        "code": "invalid",
    }
    refund = {"label_ids": [label_id(topic_schema, "billing/refund")], "time_spent_ms": 1}
    other = api_for(users["staff_annotator"]).post(url, refund, format="json")
    missing = api_for(users["staff_annotator"]).post(
        f"/api/v1/annotation/assignments/{assignment_id + 1000}/submit/", refund, format="json"
    )
    assert (other.status_code, other.json()) == (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    Assignment.objects.filter(pk=assignment_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.post(url, refund, format="json")
    assert (expired.status_code, expired.json()["code"], expired.json()["where"]) == (400, "expired", "assignment")
    assert Annotation.objects.count() == 0


@pytest.mark.parametrize("role", ["ml_engineer", "product_manager", "outsider"])
def test_submit_and_skip_are_404_without_the_work_capability(api_for, users, annotation_project, topic_schema, role):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    client = api_for(users[role])
    refund = {"label_ids": [label_id(topic_schema, "billing/refund")]}
    submit = client.post(f"/api/v1/annotation/assignments/{assignment.pk}/submit/", refund, format="json")
    skip = client.post(f"/api/v1/annotation/assignments/{assignment.pk}/skip/", {"reason": "x"}, format="json")
    assert (submit.status_code, skip.status_code) == (404, 404)
    assignment.refresh_from_db()
    assert (assignment.status, Annotation.objects.count()) == ("active", 0)


def test_skip(api_for, users, annotation_project):
    client = api_for(users["reviewer"])
    assignment_id = client.post(claim_url(annotation_project)).json()["assignment_id"]
    response = client.post(
        f"/api/v1/annotation/assignments/{assignment_id}/skip/", {"reason": "offensive"}, format="json"
    )
    assert response.json() == {"id": assignment_id, "status": "skipped", "skip_reason": "offensive"}
    assert client.post(claim_url(annotation_project)).json()["assignment_id"] != assignment_id


def test_prefetch_returns_the_current_item_and_two_ahead(
    api_for, users, annotation_project_factory, django_assert_max_num_queries
):
    project = annotation_project_factory(n=4)
    client = api_for(users["crowd_annotator"])
    response = client.post(f"/api/v1/annotation/projects/{project.pk}/prefetch/", {}, format="json")
    assert response.status_code == 200
    held = list(Assignment.objects.order_by("pk"))
    assert [item["assignment_id"] for item in response.json()] == [a.pk for a in held]
    assert [item["response"] for item in response.json()] == [
        "Answer 0: open Billing.",
        "Answer 1: open Billing.",
        "Answer 2: open Billing.",
    ]
    assert client.post(claim_url(project)).json()["assignment_id"] == held[0].pk
    bad = client.post(f"/api/v1/annotation/projects/{project.pk}/prefetch/", {"ahead": 5}, format="json")
    assert (bad.status_code, bad.json()["where"]) == (400, "ahead")


@pytest.mark.parametrize("role", ["product_manager", "ml_engineer", "outsider"])
def test_prefetch_is_404_without_the_work_capability(api_for, users, annotation_project, role):
    response = api_for(users[role]).post(
        f"/api/v1/annotation/projects/{annotation_project.pk}/prefetch/", {}, format="json"
    )
    assert response.status_code == 404
    assert Assignment.objects.count() == 0


def test_heartbeat_renews_and_refuses_others(api_for, users, annotation_project):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() + timedelta(seconds=3))
    url = f"/api/v1/annotation/assignments/{assignment.pk}/heartbeat/"
    response = api_for(users["crowd_annotator"]).post(url)
    assert response.status_code == 200
    assignment.refresh_from_db()
    assert response.json() == [
        {"assignment_id": assignment.pk, "expires_at": assignment.expires_at.isoformat().replace("+00:00", "Z")}
    ]
    assert assignment.expires_at > timezone.now() + timedelta(seconds=590)
    other = api_for(users["staff_annotator"]).post(url)
    assert (other.status_code, other.json()) == (404, {"detail": "Not found."})
    assert api_for(users["product_manager"]).post(url).status_code == 404
