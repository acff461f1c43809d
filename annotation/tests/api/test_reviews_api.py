import pytest

from accounts.models import Role
from annotation.models import AnnotationProject, Review
from annotation.services import assignment_claim_next
from annotation.tests.fixtures import label_id, submit_as

LAYERS = {"review_rate": 1.0, "spot_check_rate": 1.0, "gold_rate": 0.0, "disagreement_threshold": 0.5, "blind": False,
          "label_pools": ["crowd", "staff"]}


def _labelled(project, users):
    annotator = users["crowd_annotator"]
    while (assignment := assignment_claim_next(project=project, annotator=annotator)) is not None:
        submit_as(annotator, assignment, "billing/refund")


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_layers_per_role(api_for, users, annotation_project, role):
    response = api_for(users[role]).put(
        f"/api/v1/annotation/projects/{annotation_project.pk}/layers/", LAYERS, format="json"
    )
    annotation_project.refresh_from_db()
    if role in {"admin", "ml_engineer"}:
        assert response.status_code == 200
        assert response.json() == {"id": annotation_project.pk, **LAYERS, "mode": "human_only", "gold_items": 0}
        assert (annotation_project.review_rate, annotation_project.blind, annotation_project.label_pools) == (
            1.0,
            False,
            ["crowd", "staff"],
        )
    else:
        assert response.status_code == 404
        assert (annotation_project.review_rate, annotation_project.blind) == (0.0, True)


def test_layers_errors_name_the_field(api_for, users, annotation_project):
    response = api_for(users["admin"]).put(f"/api/v1/annotation/projects/{annotation_project.pk}/layers/",
                                           {**LAYERS, "review_rate": 2}, format="json")
    assert (response.status_code, response.json()["where"]) == (400, "review_rate")


@pytest.mark.parametrize("role,layer,allowed", [
    ("reviewer", "review", True), ("expert_annotator", "review", True), ("admin", "spot_check", True),
    ("expert_annotator", "spot_check", True), ("reviewer", "spot_check", False), ("crowd_annotator", "review", False),
    ("ml_engineer", "review", False), ("outsider", "review", False),
])
def test_review_claim_and_decide_per_role(api_for, users, annotation_project, role, layer, allowed):
    AnnotationProject.objects.filter(pk=annotation_project.pk).update(review_rate=1.0, spot_check_rate=1.0)
    annotation_project.refresh_from_db()
    _labelled(annotation_project, users)
    client = api_for(users[role])
    response = client.post(
        f"/api/v1/annotation/projects/{annotation_project.pk}/reviews/claim/", {"layer": layer}, format="json"
    )
    if not allowed:
        assert response.status_code == 404
        assert Review.objects.exclude(reviewer=None).count() == 0
        return
    body = response.json()
    review = Review.objects.get(pk=body["review_id"])
    assert (body["layer"], body["status"], body["task_id"], review.reviewer) == (
        layer,
        "pending",
        review.task_id,
        users[role],
    )
    assert body["answers"] == [
        {
            "annotation_id": review.annotation_id,
            "annotator": users["crowd_annotator"].username,
            "annotator_kind": "crowd",
            "labels": ["billing/refund"],
            "corrected_response": "",
            "comment": "",
        }
    ]
    decided = client.post(
        f"/api/v1/annotation/reviews/{review.pk}/decide/",
        {"verdict": "fix", "label_ids": [label_id(annotation_project.schema, "account/delete")]},
        format="json",
    )
    assert decided.status_code == 200
    assert (decided.json()["status"], decided.json()["fixed_labels"]) == ("fixed", ["account/delete"])


def test_decide_is_404_for_a_reviewer_on_a_spot_check(api_for, users, annotation_project):
    AnnotationProject.objects.filter(pk=annotation_project.pk).update(spot_check_rate=1.0)
    annotation_project.refresh_from_db()
    _labelled(annotation_project, users)
    review = Review.objects.filter(layer="spot_check").first()
    response = api_for(users["reviewer"]).post(
        f"/api/v1/annotation/reviews/{review.pk}/decide/", {"verdict": "accept"}, format="json"
    )
    assert response.status_code == 404
    review.refresh_from_db()
    assert review.status == "pending"


def test_claim_answers_204_when_no_check_is_left(api_for, users, annotation_project):
    response = api_for(users["reviewer"]).post(f"/api/v1/annotation/projects/{annotation_project.pk}/reviews/claim/",
                                               {"layer": "review"}, format="json")
    assert response.status_code == 204
