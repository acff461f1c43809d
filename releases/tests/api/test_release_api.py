"""The scorecard and deployment API: reading, computing, the gate's answer, promotion refused with a 409 that says
which condition blocks, fixed query counts, access; and the scorecard command."""

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.models import Deployment, Scorecard
from releases.services.deployments import deployment_create
from releases.services.scorecards import scorecard_create


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_scorecard_list_costs_the_same_queries_for_one_and_ten(users, api_for, make_artifacts):
    client = api_for(users["product_manager"])
    scorecard_create(artifact=make_artifacts(1)[0])
    one = _count(client, "/api/v1/scorecards/")
    for artifact in make_artifacts(9):
        scorecard_create(artifact=artifact)
    assert _count(client, "/api/v1/scorecards/") == one
    body = client.get("/api/v1/scorecards/").json()
    assert body["count"] == 10 and body["results"][0]["status"] == "queued"
    assert body["results"][0]["rules"]["task"].startswith("From the latest blind pairwise study")
    assert body["results"][0]["weights"] == {"task": 0.4, "general": 0.2, "speed": 0.15, "resources": 0.15,
                                             "deployability": 0.1}


@pytest.mark.parametrize(("role", "expected"), [("product_manager", 201), ("admin", 201), ("ml_engineer", 403),
                                                 ("outsider", 404), ("crowd_annotator", 404)])
def test_who_may_compute_a_scorecard(role, expected, users, api_for, tiny_artifact,
                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_for(users[role]).post("/api/v1/scorecards/", {"artifact": tiny_artifact.pk}, format="json")
    assert response.status_code == expected, response.json()
    assert Scorecard.objects.count() == (1 if expected == 201 else 0)
    assert len(callbacks) == (1 if expected == 201 else 0)  # the job is queued after commit


def test_weights_must_add_up(users, api_for, workspace):
    client = api_for(users["product_manager"])
    bad = client.put(f"/api/v1/release-policy/{workspace.pk}/", {"weights": {
        "task": 0.5, "general": 0.2, "speed": 0.15, "resources": 0.15, "deployability": 0.1}}, format="json")
    assert (bad.status_code, bad.json()["where"]) == (400, "weights")
    assert bad.json()["detail"] == "the weights sum to 1.1; they must sum to 1"
    good = client.put(f"/api/v1/release-policy/{workspace.pk}/", {"weights": {
        "task": 0.5, "general": 0.1, "speed": 0.15, "resources": 0.15, "deployability": 0.1}}, format="json")
    assert good.status_code == 200 and good.json()["weights"]["task"] == 0.5
    assert client.get(f"/api/v1/release-policy/{workspace.pk}/").json()["weights"]["general"] == 0.1


def test_a_slot_through_the_api_and_a_blocked_promotion(users, api_for, workspace, tiny_base_model, tiny_artifact):
    client = api_for(users["product_manager"])
    created = client.post("/api/v1/deployments/", {"workspace": workspace.pk, "name": "support-bot",
                                                   "production_base_model": tiny_base_model.pk}, format="json")
    assert created.status_code == 201, created.json()
    slot_id = created.json()["id"]
    set_candidate = client.post(f"/api/v1/deployments/{slot_id}/candidate/",
                                {"candidate_artifact": tiny_artifact.pk, "candidate_share": 0.2}, format="json")
    assert set_candidate.status_code == 200
    gate = set_candidate.json()["gate"]
    assert (gate["passed"], [c["state"] for c in gate["conditions"]]) == (False, ["missing"] * 3)
    refused = client.post(f"/api/v1/deployments/{slot_id}/promote/", {}, format="json")
    assert (refused.status_code, refused.json()["where"], refused.json()["code"]) == (409, "gate", "conflict")
    assert "No blind study of the candidate against the production model." in refused.json()["detail"]
    assert Deployment.objects.get().production_base_model == tiny_base_model
    nothing = client.post(f"/api/v1/deployments/{slot_id}/rollback/", format="json")
    assert (nothing.status_code, nothing.json()["where"]) == (400, "previous")
    assert api_for(users["outsider"]).get(f"/api/v1/deployments/{slot_id}/").status_code == 404


def test_deployment_list_costs_the_same_queries_for_one_and_ten(users, api_for, workspace, tiny_base_model):
    client = api_for(users["ml_engineer"])
    deployment_create(workspace=workspace, name="slot-0", production=tiny_base_model)
    one = _count(client, "/api/v1/deployments/")
    for i in range(1, 10):
        deployment_create(workspace=workspace, name=f"slot-{i}", production=tiny_base_model)
    assert _count(client, "/api/v1/deployments/") == one


def test_the_command_prints_a_scorecard_with_its_missing_evidence(tiny_artifact, capsys):
    call_command("scorecard", artifact=tiny_artifact.pk)
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "done" and printed["total"] is None and printed["is_complete"] is False
    assert [d["key"] for d in printed["dimensions"] if d["score"] is None] == ["task", "general", "resources"]
    assert printed["ready_to_ship_at"] == 4.0


def test_the_command_names_a_bad_artifact(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--artifact 999: no model artifact with this id"):
        call_command("scorecard", artifact=999)
