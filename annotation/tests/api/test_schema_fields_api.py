"""Rating and free text through the API: the schema declares them, the item shows them, a submit carries them."""

from annotation.models import Annotation
from annotation.tests.fixtures import TOPIC_TREE, label_id


def test_a_rated_schema_item_and_submit(api_for, users, workspace, annotation_project_factory):
    manager = api_for(users["ml_engineer"])
    response = manager.post(
        "/api/v1/label-schemas/",
        {
            "workspace": workspace.pk,
            "name": "Rated",
            "tree": TOPIC_TREE,
            "rating_scale": 4,
            "rating_question": "Helpful?",
            "free_text_question": "What is missing?",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["rating_scale"], body["rating_question"], body["free_text_question"]) == (
        4,
        "Helpful?",
        "What is missing?",
    )
    from annotation.models import LabelSchema

    schema = LabelSchema.objects.get(pk=body["id"])
    project = annotation_project_factory(n=2, schema=schema)
    worker = api_for(users["crowd_annotator"])
    item = worker.post(f"/api/v1/annotation/projects/{project.pk}/claim/").json()
    assert (item["rating_scale"], item["rating_question"], item["free_text_question"]) == (
        4,
        "Helpful?",
        "What is missing?",
    )
    submit = f"/api/v1/annotation/assignments/{item['assignment_id']}/submit/"
    refused = worker.post(submit, {"label_ids": [label_id(schema, "billing/refund")], "rating": 5}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "must be a whole number from 1 to 4", "where": "rating", "code": "invalid"}
    assert Annotation.objects.count() == 0
    done = worker.post(
        submit, {"label_ids": [label_id(schema, "billing/refund")], "rating": 3, "free_text": "Dates."}, format="json"
    )
    assert done.status_code == 200
    assert (done.json()["rating"], done.json()["free_text"]) == (3, "Dates.")


def test_a_schema_without_a_rating_says_so(api_for, users, workspace):
    response = api_for(users["ml_engineer"]).post(
        "/api/v1/label-schemas/",
        {"workspace": workspace.pk, "name": "Plain", "tree": TOPIC_TREE, "rating_scale": 1},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["where"] == "rating_scale"
