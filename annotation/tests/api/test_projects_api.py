import pytest

from accounts.models import Role
from annotation.models import AnnotationProject, AnnotationTask
from annotation.services import annotation_project_create

URL = "/api/v1/annotation/projects/"
MANAGERS = {"admin", "ml_engineer"}
WORKERS = {"admin", "reviewer", "expert_annotator", "staff_annotator", "crowd_annotator"}


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_create_per_role(api_for, users, annotation_version_factory, topic_schema, role):
    version = annotation_version_factory(n=3)
    payload = {"name": "Topics", "dataset_version": version.pk, "schema": topic_schema.pk, "overlap": 2}
    response = api_for(users[role]).post(URL, payload, format="json")
    if role in MANAGERS:
        assert response.status_code == 201
        body = response.json()
        assert (body["name"], body["overlap"], body["tasks_total"], body["tasks_done"], body["status"]) == (
            "Topics",
            2,
            3,
            0,
            "open",
        )
        assert (AnnotationProject.objects.count(), AnnotationTask.objects.count()) == (1, 3)
    else:
        assert response.status_code == 404
        assert (AnnotationProject.objects.count(), AnnotationTask.objects.count()) == (0, 0)


def test_create_refuses_a_bad_overlap_with_the_field(api_for, users, annotation_version_factory, topic_schema):
    version = annotation_version_factory()
    payload = {"name": "T", "dataset_version": version.pk, "schema": topic_schema.pk, "overlap": 50}
    response = api_for(users["ml_engineer"]).post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "overlap must be between 1 and 20", "where": "overlap", "code": "invalid"}
    assert AnnotationProject.objects.count() == 0


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_list_shows_projects_to_who_may_work_or_manage(api_for, users, annotation_project, role):
    body = api_for(users[role]).get(URL).json()
    expected = 1 if role in MANAGERS | WORKERS else 0
    assert body["count"] == expected
    if expected:
        assert (body["results"][0]["id"], body["results"][0]["tasks_total"]) == (annotation_project.pk, 3)


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_detail_per_role(api_for, users, annotation_project, role):
    response = api_for(users[role]).get(f"{URL}{annotation_project.pk}/")
    assert response.status_code == (200 if role in MANAGERS | WORKERS else 404)


def test_list_costs_the_same_for_1_and_10_projects(api_for, users, workspace, annotation_version_factory, topic_schema,
                                                   django_assert_num_queries):
    client = api_for(users["crowd_annotator"])
    version = annotation_version_factory(n=2)
    annotation_project_create(workspace=workspace, name="P0", dataset_version=version, schema=topic_schema)
    with django_assert_num_queries(3):
        assert client.get(URL).json()["count"] == 1
    for i in range(1, 10):
        annotation_project_create(workspace=workspace, name=f"P{i}", dataset_version=version, schema=topic_schema)
    with django_assert_num_queries(3):
        assert client.get(URL).json()["count"] == 10
