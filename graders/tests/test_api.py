"""The graders API: who may save and try graders, errors that name the field, the bench, fixed query counts."""

import pytest

from common.models import HistoryEvent
from graders.models import Grader
from graders.services import grader_create

EDITORS = {"admin", "ml_engineer"}
READERS = {"admin", "ml_engineer", "product_manager"}
ALL = ["admin", "ml_engineer", "product_manager", "reviewer", "crowd_annotator", "outsider"]
CONTAINS = {"type": "string_check", "input": "{{sample.output_text}}", "reference": "{{item.reference}}",
            "operation": "ilike"}


@pytest.mark.parametrize("who", ALL)
def test_create_by_role(who, users, api_for, workspace):
    response = api_for(users[who]).post("/api/v1/graders/", {"workspace": workspace.pk, "name": "contains",
                                                             "definition": CONTAINS}, format="json")
    if who not in EDITORS:
        assert response.status_code == 404
        assert Grader.objects.count() == 0
        return
    assert response.status_code == 201
    grader = Grader.objects.get()
    assert (grader.kind, grader.definition["name"], response.json()["definition"]["operation"]) == (
        "string_check", "contains", "ilike")
    assert HistoryEvent.objects.filter(target_type="graders.grader", target_id=grader.pk, verb="created").count() == 1


def test_a_bad_definition_is_a_400_naming_the_field(users, api_for, workspace):
    client = api_for(users["ml_engineer"])
    response = client.post("/api/v1/graders/", {"workspace": workspace.pk, "name": "m", "definition": {
        "type": "multi", "graders": {"a": CONTAINS}, "calculate_output": "a + __import__('os')"}}, format="json")
    assert response.status_code == 400
    assert response.json()["where"] == "definition.calculate_output"
    duplicate = {"workspace": workspace.pk, "name": "contains", "definition": CONTAINS}
    assert client.post("/api/v1/graders/", duplicate, format="json").status_code == 201
    again = client.post("/api/v1/graders/", duplicate, format="json")
    assert (again.status_code, again.json()["where"]) == (400, "name")
    assert Grader.objects.count() == 1


@pytest.mark.parametrize("who", ALL)
def test_read_update_delete_by_role(who, users, api_for, workspace):
    grader = grader_create(workspace=workspace, name="contains", definition=CONTAINS)
    client = api_for(users[who])
    listed = client.get("/api/v1/graders/").json()["results"]
    assert [row["name"] for row in listed] == (["contains"] if who in READERS else [])
    changed = client.put(f"/api/v1/graders/{grader.pk}/", {"name": "exact", "definition": {**CONTAINS,
                                                                                           "operation": "eq"}},
                         format="json")
    expected = 200 if who in EDITORS else 403 if who in READERS else 404
    assert changed.status_code == expected
    grader.refresh_from_db()
    assert grader.definition["operation"] == ("eq" if who in EDITORS else "ilike")
    assert client.delete(f"/api/v1/graders/{grader.pk}/").status_code == (204 if who in EDITORS else expected)
    assert Grader.objects.count() == (0 if who in EDITORS else 1)


def test_list_costs_the_same_for_1_and_10_rows(users, api_for, workspace, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    grader_create(workspace=workspace, name="g0", definition=CONTAINS)
    with django_assert_num_queries(3):  # token auth, count, page
        assert len(client.get("/api/v1/graders/").json()["results"]) == 1
    for i in range(1, 10):
        grader_create(workspace=workspace, name=f"g{i}", definition=CONTAINS)
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/graders/").json()["results"]) == 10


def test_bench_scores_saved_and_unsaved_graders_with_reasons(users, api_for, workspace, other_workspace):
    saved = grader_create(workspace=workspace, name="contains", definition=CONTAINS)
    foreign = grader_create(workspace=other_workspace, name="foreign", definition=CONTAINS)
    client = api_for(users["product_manager"])
    body = {"workspace": workspace.pk, "graders": [saved.pk], "definitions": [
        {"type": "python", "name": "sneaky",
         "source": "def grade(sample, item):\n    return len(open('/etc/passwd').read())\n"},
        {"type": "multi", "name": "mix", "calculate_output": "0.5 * c + 0.5 * f", "graders": {
            "c": CONTAINS, "f": {"type": "text_similarity", "evaluation_metric": "fuzzy_match"}}},
    ], "samples": [{"answer": "Your ORDER is on its way", "reference": "order"}, {"answer": "hi", "reference": "hi"}]}
    response = client.post("/api/v1/graders/bench/", body, format="json")
    assert response.status_code == 200
    result = response.json()
    assert result["graders"] == ["contains", "sneaky", "mix"]
    first, second = result["rows"]
    assert [grade["score"] for grade in first["grades"]][0] == 1.0
    assert first["grades"][1]["score"] == 0.0
    assert first["grades"][1]["reason"].startswith("PermissionError: the grader sandbox allows files in its own")
    assert second["grades"][2] == {"score": 1.0, "reason": "", "parts": {"c": 1.0, "f": 1.0}}
    refused = client.post("/api/v1/graders/bench/", {**body, "graders": [foreign.pk]}, format="json")
    assert (refused.status_code, refused.json()["where"]) == (400, "graders")
    assert api_for(users["crowd_annotator"]).post("/api/v1/graders/bench/", body, format="json").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_bench_asks_a_model_judge_through_the_llm_client_and_caches_it(users, api_for, workspace, make_listener,
                                                                       outbound_allow):
    import json

    from llm.models import ModelCall
    from llm.services.endpoints import model_endpoint_create

    def judge(method, path):
        body = {"id": "x", "object": "chat.completion", "model": "judge", "usage": {"prompt_tokens": 1,
                                                                                    "completion_tokens": 1},
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Score: 4/5"},
                             "finish_reason": "stop"}]}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    listener = make_listener(answer=judge)
    outbound_allow(listener.address)
    model_endpoint_create(workspace=workspace, name="judge", base_url=f"{listener.url}/v1", model="judge")
    rubric = {"type": "score_model", "name": "rubric", "model": "judge",
              "input": [{"role": "user", "content": "{{sample.output_text}}"}]}
    body = {"workspace": workspace.pk, "definitions": [rubric],
            "samples": [{"answer": "fine", "reference": "fine"}]}
    client = api_for(users["ml_engineer"])
    for _ in range(2):
        response = client.post("/api/v1/graders/bench/", body, format="json")
        assert response.json()["rows"][0]["grades"][0] == {"score": 0.8, "reason": "", "parts": {}}
    assert len(listener.requests) == 1  # temperature 0: the second ask came from the cache
    assert list(ModelCall.objects.order_by("pk").values_list("cached", flat=True)) == [False, True]
