"""AI annotator API: who may add and run one, what a run reports, and fixed query counts for the list."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Role
from annotation.models import AIAnnotator, AIRun
from annotation.services import ai_annotator_create
from annotation.tests.fixtures import project_mode_set
from llm.services.endpoints import model_endpoint_create

MANAGERS = {Role.ADMIN, Role.ML_ENGINEER}


@pytest.fixture
def endpoint(workspace):
    return model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="tiny")


def list_url(project):
    return f"/api/v1/annotation/projects/{project.pk}/ai-annotators/"


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_only_managers_add_an_ai_annotator(api_for, users, annotation_project, endpoint, role):
    response = api_for(users[role]).post(
        list_url(annotation_project), {"name": "Tiny", "endpoint": endpoint.pk}, format="json"
    )
    if role in MANAGERS:
        assert response.status_code == 201
        ai = AIAnnotator.objects.get()
        body = response.json()
        assert (body["id"], body["name"], body["kind"], body["username"]) == (
            ai.pk,
            "Tiny",
            "ai",
            f"ai-{annotation_project.pk}-tiny",
        )
        assert (body["endpoint"], body["model"], body["temperature"]) == ("local", "tiny", 0.0)
        assert (body["annotations"], body["latest_run"]) == (0, None)
        assert body["prompt_version"] == ai.prompt_version
    else:
        assert response.status_code == 404
        assert AIAnnotator.objects.count() == 0
        assert not get_user_model().objects.filter(username__startswith="ai-").exists()


def test_an_endpoint_of_another_workspace_is_not_found(api_for, users, annotation_project, other_workspace):
    foreign = model_endpoint_create(
        workspace=other_workspace, name="theirs", base_url="http://model.invalid/v1", model="m"
    )
    response = api_for(users["ml_engineer"]).post(
        list_url(annotation_project), {"name": "Tiny", "endpoint": foreign.pk}, format="json"
    )
    assert response.status_code == 404
    assert AIAnnotator.objects.count() == 0


def test_a_bad_prompt_is_refused_with_the_field(api_for, users, annotation_project, endpoint):
    response = api_for(users["ml_engineer"]).post(
        list_url(annotation_project),
        {"name": "Tiny", "endpoint": endpoint.pk, "prompt_template": "Label it."},
        format="json",
    )
    assert response.status_code == 400
    assert "the prompt must contain {conversation}, {labels}" in str(response.json())
    assert AIAnnotator.objects.count() == 0


def test_list_costs_the_same_for_1_and_10(api_for, users, annotation_project, endpoint, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    ai_annotator_create(project=annotation_project, name="AI 0", endpoint=endpoint)
    with django_assert_num_queries(4):
        one = client.get(list_url(annotation_project))
    for i in range(1, 10):
        ai_annotator_create(project=annotation_project, name=f"AI {i}", endpoint=endpoint)
    with django_assert_num_queries(4):
        ten = client.get(list_url(annotation_project))
    assert (one.json()["count"], ten.json()["count"]) == (1, 10)
    assert [row["name"] for row in ten.json()["results"]] == [f"AI {i}" for i in range(10)]


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_only_managers_start_and_see_a_run(
    api_for, users, annotation_project, endpoint, role, django_capture_on_commit_callbacks
):
    ai = ai_annotator_create(project=project_mode_set(annotation_project, "ai_assists"), name="Tiny", endpoint=endpoint)
    client = api_for(users[role])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/api/v1/annotation/ai-annotators/{ai.pk}/runs/", {"limit": 2}, format="json")
    if role in MANAGERS:
        assert response.status_code == 202
        run = AIRun.objects.get()
        assert response.json()["id"] == run.pk and (run.status, run.limit) == ("queued", 2)
        assert len(callbacks) == 1
        detail = client.get(f"/api/v1/annotation/ai-runs/{run.pk}/").json()
        assert (detail["status"], detail["processed"], detail["answers"]) == ("queued", 0, [])
    else:
        assert response.status_code == 404
        assert AIRun.objects.count() == 0 and callbacks == []


def test_a_run_limit_out_of_range_is_refused(api_for, users, annotation_project, endpoint):
    ai = ai_annotator_create(project=annotation_project, name="Tiny", endpoint=endpoint)
    response = api_for(users["ml_engineer"]).post(
        f"/api/v1/annotation/ai-annotators/{ai.pk}/runs/", {"limit": 0}, format="json"
    )
    assert response.status_code == 400
    assert AIRun.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_is_done_by_the_worker(api_for, users, annotation_project_factory, tiny_endpoint, run_jobs):
    project = annotation_project_factory(n=2, mode="ai_assists")
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, max_tokens=4)
    client = api_for(users["ml_engineer"])
    run_id = client.post(f"/api/v1/annotation/ai-annotators/{ai.pk}/runs/", {"limit": 2}, format="json").json()["id"]
    run_jobs()
    detail = client.get(f"/api/v1/annotation/ai-runs/{run_id}/").json()
    assert (detail["status"], detail["processed"], detail["annotated"], detail["failed"]) == ("done", 2, 0, 2)
    assert [answer["outcome"] for answer in detail["answers"]] == ["failed", "failed"]
    assert all(answer["reason"] for answer in detail["answers"])
