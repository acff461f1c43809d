"""The AI annotator pages: managers add and run one, follow a run; fixed query counts; nobody else gets in."""

import pytest
from django.urls import reverse

from accounts.models import Role
from annotation.models import AIAnnotator, AIRun
from annotation.services import ai_annotator_create, ai_run_create, ai_run_execute
from annotation.tests.fixtures import project_mode_set
from llm.services.endpoints import model_endpoint_create


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def endpoint(workspace):
    return model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="tiny")


def test_ai_page_costs_the_same_for_1_and_10(
    client_for, users, annotation_project, endpoint, django_assert_num_queries
):
    client = client_for(users["ml_engineer"])
    url = reverse("annotation:project-ai", args=[annotation_project.pk])
    ai_annotator_create(project=annotation_project, name="AI 0", endpoint=endpoint)
    with django_assert_num_queries(7):
        one = client.get(url).content.decode()
    for i in range(1, 10):
        ai_annotator_create(project=annotation_project, name=f"AI {i}", endpoint=endpoint)
    with django_assert_num_queries(7):
        ten = client.get(url).content.decode()
    assert one.count("data-ai=") == 1 and ten.count("data-ai=") == 10
    assert 'id="ai-not-in-pools"' not in ten


def test_a_manager_adds_and_runs_an_ai_annotator(
    client_for, users, annotation_project, endpoint, django_capture_on_commit_callbacks
):
    project_mode_set(annotation_project, "ai_assists")
    client = client_for(users["ml_engineer"])
    response = client.post(
        reverse("annotation:project-ai-create", args=[annotation_project.pk]),
        {
            "name": "Tiny <b>",
            "endpoint": endpoint.pk,
            "prompt_template": "{labels}\n{conversation}",
            "temperature": "0",
            "max_tokens": "16",
        },
    )
    assert response.status_code == 302
    ai = AIAnnotator.objects.get()
    assert (ai.name, ai.prompt_template, ai.max_tokens) == ("Tiny <b>", "{labels}\n{conversation}", 16)
    page = client.get(reverse("annotation:project-ai", args=[annotation_project.pk])).content.decode()
    assert "Tiny &lt;b&gt;" in page and "Tiny <b>" not in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("annotation:ai-run-start", args=[ai.pk]), {"limit": "2"})
    run = AIRun.objects.get()
    assert response.url == reverse("annotation:ai-run", args=[run.pk]) and len(callbacks) == 1
    page = client.get(response.url).content.decode()
    assert 'hx-trigger="every 2s"' in page and "0 / 2 items: 0 labelled, 0 failed" in page


def test_a_bad_prompt_shows_the_reason_and_creates_nothing(client_for, users, annotation_project, endpoint):
    response = client_for(users["ml_engineer"]).post(
        reverse("annotation:project-ai-create", args=[annotation_project.pk]),
        {
            "name": "Tiny",
            "endpoint": endpoint.pk,
            "prompt_template": "Label it.",
            "temperature": "0",
            "max_tokens": "16",
        },
    )
    assert response.status_code == 400
    assert "the prompt must contain {conversation}, {labels}" in response.content.decode()
    assert AIAnnotator.objects.count() == 0


@pytest.mark.parametrize("role", [r for r in Role.values if r not in (Role.ADMIN, Role.ML_ENGINEER)] + ["outsider"])
def test_others_cannot_add_or_run(client_for, users, annotation_project, endpoint, role):
    ai = ai_annotator_create(project=annotation_project, name="Tiny", endpoint=endpoint)
    client = client_for(users[role])
    assert client.get(reverse("annotation:project-ai", args=[annotation_project.pk])).status_code == 404
    assert (
        client.post(
            reverse("annotation:project-ai-create", args=[annotation_project.pk]),
            {
                "name": "Other",
                "endpoint": endpoint.pk,
                "prompt_template": "{labels}{conversation}",
                "temperature": "0",
                "max_tokens": "16",
            },
        ).status_code
        == 404
    )
    assert client.post(reverse("annotation:ai-run-start", args=[ai.pk]), {"limit": "2"}).status_code == 404
    assert (AIAnnotator.objects.count(), AIRun.objects.count()) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_a_finished_run_page_lists_the_answers_escaped(client_for, users, annotation_project_factory, tiny_endpoint):
    project = annotation_project_factory(n=2, mode="ai_assists")
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, max_tokens=4)
    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=2, enqueue=False))
    client = client_for(users["ml_engineer"])
    page = client.get(reverse("annotation:ai-run", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 2s"' not in page
    assert "2 / 2 items: 0 labelled, 2 failed" in page
    assert page.count('<span class="badge failed">Failed</span>') == 2
    status = client.get(reverse("annotation:ai-run", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert status.startswith('<div class="card run-status" id="ai-run-status" data-status="done"')
    dashboard = client.get(reverse("annotation:project-dashboard", args=[project.pk])).content.decode()
    assert "No annotations yet." in dashboard


@pytest.mark.django_db(transaction=True)
def test_run_page_costs_the_same_for_1_and_10_answers(client_for, users, annotation_project_factory, tiny_endpoint,
                                                      django_assert_num_queries):
    project = annotation_project_factory(n=11, mode="ai_assists")
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, max_tokens=2)
    one = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=1, enqueue=False))
    ten = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=10, enqueue=False))
    client = client_for(users["ml_engineer"])
    pages = []
    for run in (one, ten):
        with django_assert_num_queries(5):
            pages.append(client.get(reverse("annotation:ai-run", args=[run.pk])).content.decode())
    assert [page.count('<span class="badge failed">') for page in pages] == [1, 10]
