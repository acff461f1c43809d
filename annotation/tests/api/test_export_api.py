import pytest

from accounts.models import Role
from annotation.services import annotation_submit, assignment_claim_next
from annotation.tests.fixtures import label_id
from datahub.models import DatasetVersion, Record

MANAGERS = {"admin", "ml_engineer"}


@pytest.fixture
def annotated_project(annotation_project, users, topic_schema):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    annotation_submit(
        assignment=assignment,
        label_ids=[label_id(topic_schema, "billing/refund")],
        corrected_response="A better answer.",
        time_spent_ms=1,
        submitted_by=users["crowd_annotator"],
    )
    return annotation_project


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_export_per_role(api_for, users, annotated_project, role):
    response = api_for(users[role]).post(f"/api/v1/annotation/projects/{annotated_project.pk}/export/")
    if role in MANAGERS:
        assert response.status_code == 201
        version = DatasetVersion.objects.get(operation="annotation_export")
        body = response.json()
        assert (body["version_id"], body["number"], body["parent_id"], body["dataset_id"]) == (
            version.pk, 2, annotated_project.dataset_version_id, annotated_project.dataset_version.dataset_id)
        assert (body["operation_detail"]["annotated"], body["operation_detail"]["corrected"]) == (1, 1)
    else:
        assert response.status_code == 404
        assert DatasetVersion.objects.filter(operation="annotation_export").count() == 0
        assert Record.objects.filter(origin="annotation").count() == 0


def test_export_with_nothing_annotated_says_so(api_for, users, annotation_project):
    response = api_for(users["ml_engineer"]).post(f"/api/v1/annotation/projects/{annotation_project.pk}/export/")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "the project has no submitted annotations to export",
        "where": "project",
        "code": "empty",
    }
