"""An annotator cannot change a submitted answer by submitting again, and another annotator's assignment is as missing
as one that does not exist."""

import pytest

from annotation.models import Annotation
from annotation.tests.fixtures import label_id

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_submit_with_other_labels_is_a_conflict_and_changes_nothing(
    http, users, annotation_project, topic_schema
):
    annotator = http.as_user(users["crowd_annotator"])
    assignment = annotator.post(f"/api/v1/annotation/projects/{annotation_project.pk}/claim/").json()["assignment_id"]
    url = f"/api/v1/annotation/assignments/{assignment}/submit/"
    refund = {"label_ids": [label_id(topic_schema, "billing/refund")], "time_spent_ms": 10}
    first = annotator.post(url, json=refund)
    assert annotator.post(url, json={**refund, "time_spent_ms": 99}).json()["id"] == first.json()["id"]
    changed = annotator.post(url, json={"label_ids": [label_id(topic_schema, "billing/invoice")], "time_spent_ms": 10})
    assert (changed.status_code, changed.json()["code"]) == (409, "conflict")
    assert [label.path for label in Annotation.objects.get().labels.all()] == ["billing/refund"]


def test_someone_elses_assignment_answers_like_a_missing_one(http, users, annotation_project, topic_schema):
    owner = http.as_user(users["crowd_annotator"])
    assignment = owner.post(f"/api/v1/annotation/projects/{annotation_project.pk}/claim/").json()["assignment_id"]
    other = http.as_user(users["staff_annotator"])
    refund = {"label_ids": [label_id(topic_schema, "billing/refund")], "time_spent_ms": 10}
    for action, body in (("submit", refund), ("skip", {}), ("heartbeat", None)):
        theirs = other.post(f"/api/v1/annotation/assignments/{assignment}/{action}/", json=body)
        missing = other.post(f"/api/v1/annotation/assignments/{assignment + 999}/{action}/", json=body)
        assert (
            (theirs.status_code, theirs.json())
            == (missing.status_code, missing.json())
            == (404, {"detail": "Not found."})
        )
    assert Annotation.objects.count() == 0
