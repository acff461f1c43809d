"""The grader pages: the same services as the API, errors beside their field, the bench's scores and reasons, a fixed
number of queries for the list."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from graders.models import Grader
from graders.services import grader_create

CONTAINS = {"type": "string_check", "operation": "ilike"}


@pytest.fixture
def browser(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_create_then_edit_a_grader(browser, users, workspace):
    client = browser(users["ml_engineer"])
    page = client.get(reverse("graders:grader-create") + "?kind=python")
    assert page.status_code == 200 and "def grade(sample, item)" in page.content.decode()
    response = client.post(reverse("graders:grader-create"), {
        "workspace": workspace.pk, "name": "contains", "description": "", "definition": '{"type": "string_check", '
                                                                                        '"operation": "ilike"}'})
    grader = Grader.objects.get()
    assert response.status_code == 302 and response.url == reverse("graders:grader-edit", args=[grader.pk])
    edited = client.post(reverse("graders:grader-edit", args=[grader.pk]), {
        "name": "contains", "description": "d", "definition": '{"type": "string_check", "operation": "eq"}'})
    grader.refresh_from_db()
    assert edited.status_code == 302 and grader.definition["operation"] == "eq"


def test_errors_are_shown_beside_the_definition(browser, users, workspace):
    client = browser(users["ml_engineer"])
    bad_json = client.post(reverse("graders:grader-create"), {"workspace": workspace.pk, "name": "x",
                                                              "definition": "{nope"})
    assert bad_json.status_code == 400 and "Not valid JSON" in bad_json.content.decode()
    bad_kind = client.post(reverse("graders:grader-create"), {"workspace": workspace.pk, "name": "x",
                                                              "definition": '{"type": "string_check"}'})
    assert bad_kind.status_code == 400
    assert "definition.operation: operation must be one of eq, ne, like, ilike" in bad_kind.content.decode()
    assert Grader.objects.count() == 0


@pytest.mark.parametrize("who,status", [("product_manager", 404), ("crowd_annotator", 404), ("outsider", 400)])
def test_only_launchers_create_graders_in_their_workspace(who, status, browser, users, workspace):
    client = browser(users[who])
    definition = '{"type": "string_check", "operation": "eq"}'
    response = client.post(reverse("graders:grader-create"), {"workspace": workspace.pk, "name": "x",
                                                              "definition": definition})
    assert response.status_code == status  # the outsider may save graders, in their own workspace only
    assert Grader.objects.count() == 0


def test_bench_shows_each_graders_score_and_reason(browser, users, workspace):
    grader = grader_create(workspace=workspace, name="contains", definition=CONTAINS)
    client = browser(users["product_manager"])
    page = client.get(reverse("graders:grader-bench", args=[workspace.pk]) + f"?grader={grader.pk}")
    assert page.status_code == 200
    response = client.post(reverse("graders:grader-bench", args=[workspace.pk]), {
        "graders": [str(grader.pk)],
        "definition": '{"type": "python", "name": "loops", "source": "def grade(sample, item):\\n    while True:\\n'
                      '        pass\\n"}',
        "samples": "Your order shipped\torder\n{\"answer\": \"<b>hi</b>\", \"reference\": \"bye\"}",
    })
    content = response.content.decode()
    assert response.status_code == 200
    assert "<th>contains</th><th>loops</th>" in content
    assert content.count("<strong>1.000</strong>") == 1 and content.count("<strong>0.000</strong>") == 3
    assert content.count("the grader used more than its 2 s of CPU time") == 2
    assert "&lt;b&gt;hi&lt;/b&gt;" in content  # answers are shown escaped


def test_list_costs_the_same_for_1_and_10_graders(browser, users, workspace):
    client = browser(users["ml_engineer"])
    grader_create(workspace=workspace, name="g0", definition=CONTAINS)
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("graders:grader-list")).status_code == 200
    for index in range(1, 10):
        grader_create(workspace=workspace, name=f"g{index}", definition=CONTAINS)
    with CaptureQueriesContext(connection) as ten:
        content = client.get(reverse("graders:grader-list")).content.decode()
    assert content.count('id="grader-') == 10
    assert len(ten.captured_queries) == len(one.captured_queries)
