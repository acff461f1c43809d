"""The dedupe API with token auth: create (queued, run by the worker), read, override, apply; permissions; query
counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from datahub.models import DatasetVersion
from dedupe.models import DedupeDecision, DedupeRun
from dedupe.services import dedupe_run_create, dedupe_run_execute

EDITORS = {"admin", "ml_engineer"}
VIEWERS = {"admin", "ml_engineer", "product_manager"}
EVERYONE = [*Role.values, "outsider"]


@pytest.mark.django_db(transaction=True)
def test_create_runs_in_the_background_and_the_result_is_readable(api_for, users, support_dataset, run_jobs):
    client = api_for(users["ml_engineer"])
    created = client.post(
        f"/api/v1/datasets/{support_dataset.pk}/dedupe-runs/",
        {"use_semantic": False, "near_threshold": 0.75},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["use_semantic"], body["near_threshold"], body["embedding_model"]) == (
        "queued",
        False,
        0.75,
        "",
    )
    run_jobs()
    detail = client.get(f"/api/v1/dedupe-runs/{body['id']}/").json()
    assert (detail["status"], detail["record_count"], detail["cluster_count"], detail["drop_count"]) == (
        "dry_run_ready",
        11,
        3,
        3,
    )
    assert detail["decisions"] == {"keep": 3, "drop": 3, "overridden": 0}
    assert detail["histogram"]["stage"] == "near" and len(detail["histogram"]["counts"]) == 50
    pairs = client.get(f"/api/v1/dedupe-runs/{body['id']}/pairs/?duplicates=1").json()
    assert [(p["stage"], round(p["similarity"], 3)) for p in pairs["results"]] == [
        ("normalised", 1.0),
        ("near", 0.967),
        ("near", 0.884),
    ]
    assert pairs["results"][1]["record_a"]["source"] in {"Help desk", "Forum scrape"}
    clusters = client.get(f"/api/v1/dedupe-runs/{body['id']}/clusters/").json()
    assert clusters["count"] == 3
    assert [[d["action"] for d in c["decisions"]] for c in clusters["results"]] == [["keep", "drop"]] * 3


def test_override_and_apply(api_for, users, support_dataset):
    run = dedupe_run_execute(
        run=dedupe_run_create(dataset=support_dataset, use_semantic=False, run_in_background=False)
    )
    client = api_for(users["ml_engineer"])
    drop = DedupeDecision.objects.filter(run=run, action="drop").order_by("cluster__number").first()
    response = client.post(f"/api/v1/dedupe-decisions/{drop.pk}/override/", {"action": "keep"}, format="json")
    assert response.status_code == 200
    assert (response.json()["action"], response.json()["proposed_action"], response.json()["is_overridden"]) == (
        "keep",
        "drop",
        True,
    )
    bad = client.post(f"/api/v1/dedupe-decisions/{drop.pk}/override/", {"action": "maybe"}, format="json")
    assert (bad.status_code, bad.json()["where"]) == (400, "action")
    applied = client.post(f"/api/v1/dedupe-runs/{run.pk}/apply/", {"note": "reviewed"}, format="json")
    assert applied.status_code == 201
    assert {k: applied.json()[k] for k in ("number", "parent", "operation")} == {
        "number": 1,
        "parent": None,
        "operation": "dedupe",
    }
    assert sum(applied.json()["counts"].values()) == 9
    again = client.post(f"/api/v1/dedupe-runs/{run.pk}/apply/", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (400, "not_applicable")


def test_bad_input_is_a_clear_error_and_creates_nothing(api_for, users, support_dataset):
    client = api_for(users["ml_engineer"])
    url = f"/api/v1/datasets/{support_dataset.pk}/dedupe-runs/"
    for payload, where in [({"use_exact": False, "use_near": False, "use_semantic": False}, "stages"),
                           ({"cosine_threshold": 0.2}, "cosine_threshold"), ({"version": 7}, "version")]:
        response = client.post(url, payload, format="json")
        assert (response.status_code, response.json()["where"]) == (400, where)
    assert DedupeRun.objects.count() == 0


@pytest.mark.parametrize("role", EVERYONE)
def test_permissions_to_start_a_run(api_for, users, support_dataset, role):
    response = api_for(users[role]).post(
        f"/api/v1/datasets/{support_dataset.pk}/dedupe-runs/", {"use_semantic": False}, format="json"
    )
    expected = 201 if role in EDITORS else 403 if role in VIEWERS else 404
    assert response.status_code == expected
    assert DedupeRun.objects.count() == (1 if role in EDITORS else 0)


@pytest.mark.parametrize("role", EVERYONE)
def test_permissions_to_read_override_and_apply(api_for, users, support_dataset, role):
    run = dedupe_run_execute(
        run=dedupe_run_create(dataset=support_dataset, use_semantic=False, run_in_background=False)
    )
    decision = DedupeDecision.objects.filter(run=run, action="drop").first()
    client = api_for(users[role])
    assert client.get(f"/api/v1/dedupe-runs/{run.pk}/").status_code == (200 if role in VIEWERS else 404)
    assert client.get(f"/api/v1/dedupe-runs/{run.pk}/pairs/").status_code == (200 if role in VIEWERS else 404)
    override = client.post(f"/api/v1/dedupe-decisions/{decision.pk}/override/", {"action": "keep"}, format="json")
    apply = client.post(f"/api/v1/dedupe-runs/{run.pk}/apply/", {}, format="json")
    expected = (200, 201) if role in EDITORS else (403, 403) if role in VIEWERS else (404, 404)
    assert (override.status_code, apply.status_code) == expected
    decision.refresh_from_db()
    assert decision.action == ("keep" if role in EDITORS else "drop")
    assert DatasetVersion.objects.count() == (1 if role in EDITORS else 0)


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_endpoints_cost_the_same_for_one_row_and_ten(api_for, users, support_dataset, dataset, forum):
    from datahub.services.records import records_bulk_create
    from dedupe.tests.conftest import chat

    client = api_for(users["ml_engineer"])
    one = dedupe_run_execute(
        run=dedupe_run_create(dataset=support_dataset, use_near=False, use_semantic=False, run_in_background=False)
    )
    counts_one = [
        _queries(client, f"/api/v1/datasets/{support_dataset.pk}/dedupe-runs/"),
        _queries(client, f"/api/v1/dedupe-runs/{one.pk}/pairs/"),
        _queries(client, f"/api/v1/dedupe-runs/{one.pk}/clusters/"),
    ]
    assert (one.cluster_count, one.pairs.count()) == (1, 1)
    rows = [chat({"instruction": f"Question {n}", "output": f"The answer to question number {n}."}) for n in range(10)]
    rows += [chat({"instruction": f"question {n}!", "output": f"the answer to question number {n}"}) for n in range(10)]
    records_bulk_create(dataset=support_dataset, rows=rows, source=forum)
    for _ in range(9):
        dedupe_run_create(dataset=support_dataset, use_semantic=False, run_in_background=False)
    ten = dedupe_run_execute(
        run=dedupe_run_create(dataset=support_dataset, use_near=False, use_semantic=False, run_in_background=False)
    )
    assert (ten.cluster_count, ten.pairs.count()) == (11, 11)
    counts_ten = [
        _queries(client, f"/api/v1/datasets/{support_dataset.pk}/dedupe-runs/"),
        _queries(client, f"/api/v1/dedupe-runs/{ten.pk}/pairs/"),
        _queries(client, f"/api/v1/dedupe-runs/{ten.pk}/clusters/"),
    ]
    assert counts_one == counts_ten
