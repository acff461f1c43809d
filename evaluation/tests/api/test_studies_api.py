import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from evaluation.models import Arm, Showing, Study, Vote
from evaluation.services.studies import STALE_AFTER

ROLES = [*Role.values, "outsider"]
MANAGERS = {"admin", "product_manager"}
RESULT_READERS = {"admin", "product_manager", "ml_engineer"}
RATERS = {"reviewer", "expert_annotator", "staff_annotator", "crowd_annotator"}


def _create_body(workspace, eval_version, baseline, candidate, **overrides):
    body = {
        "workspace": workspace.pk,
        "name": "Support answers",
        "dataset_version": eval_version.pk if eval_version else None,
        "max_new_tokens": 8,
        "arms": [
            {"name": "base", "base_model": baseline.pk, "is_baseline": True},
            {"name": "cand", "base_model": candidate.pk, "is_baseline": False},
        ],
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize("role", ROLES)
def test_create_study_permissions(role, users, api_for, workspace, eval_version, tiny_base_model, candidate_base_model):
    response = api_for(users[role]).post(
        "/api/v1/studies/", _create_body(workspace, eval_version, tiny_base_model, candidate_base_model), format="json"
    )
    if role in MANAGERS:
        assert response.status_code == 201
        study = Study.objects.get()
        assert response.json() == {
            "id": study.pk,
            "name": "Support answers",
            "question": "",
            "workspace": workspace.pk,
            "workspace_name": "Acme support",
            "status": "generating",
            "kind": "pairwise",
            "progress": 0.0,
            "created_at": response.json()["created_at"],
        }
        assert list(Arm.objects.order_by("name").values_list("name", "is_baseline")) == [
            ("base", True),
            ("cand", False),
        ]
    else:
        assert response.status_code == 404
        assert Study.objects.count() == 0
        assert Arm.objects.count() == 0


def test_create_study_with_one_arm_names_the_problem(
    users, api_for, workspace, eval_version, tiny_base_model, candidate_base_model
):
    body = _create_body(workspace, eval_version, tiny_base_model, candidate_base_model)
    body["arms"] = body["arms"][:1]
    response = api_for(users["product_manager"]).post("/api/v1/studies/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "a study needs at least two arms; got 1", "where": "arms", "code": "invalid"}
    assert Study.objects.count() == 0


def test_create_study_with_a_model_of_another_workspace_says_not_found_here(
    users, api_for, workspace, other_workspace, eval_version, tiny_base_model, tiny_model_dir
):
    from training.services.base_models import base_model_register

    theirs = base_model_register(workspace=other_workspace, name="theirs", path=str(tiny_model_dir))
    response = api_for(users["product_manager"]).post(
        "/api/v1/studies/", _create_body(workspace, eval_version, tiny_base_model, theirs), format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"no base model {theirs.pk} in this workspace",
        "where": "arms[1].base_model",
        "code": "invalid",
    }
    assert Study.objects.count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_detail_and_results_permissions(role, users, api_for, make_study):
    study = make_study()
    client = api_for(users[role])
    detail = client.get(f"/api/v1/studies/{study.pk}/")
    results = client.get(f"/api/v1/studies/{study.pk}/results/")
    if role in RESULT_READERS:
        assert detail.status_code == 200
        body = detail.json()
        assert (body["status"], body["progress"], body["counts"]) == (
            "generating", 0.0, {"prompts": 4, "comparisons": 0, "identical": 0, "gold": 0, "repeats": 0, "votes": 0,
                                  "counted_votes": 0})
        assert [(arm["name"], arm["is_baseline"], arm["model_name"]) for arm in body["arms"]] == [
            ("baseline-arm", True, "tiny-chat"), ("candidate-arm", False, "tiny-chat-other")]
        assert results.status_code == 200
        [result] = results.json()["results"]
        assert (result["baseline"], result["candidate"], result["votes"], result["support_rate"]) == (
            "baseline-arm", "candidate-arm", 0, None)
        assert result["verdict"]["text"] == "not yet conclusive — no votes yet"
    else:
        assert detail.status_code == 404
        assert results.status_code == 404


def test_missing_study_is_404_like_a_forbidden_one(users, api_for):
    assert api_for(users["admin"]).get("/api/v1/studies/999999/").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_list_shows_managed_studies_to_readers_and_only_open_ones_to_raters(role, users, api_for, make_study):
    make_study()  # generating: raters do not see it yet
    response = api_for(users[role]).get("/api/v1/studies/")
    assert response.status_code == 200
    assert response.json()["count"] == (1 if role in RESULT_READERS else 0)


def test_list_costs_the_same_queries_for_one_and_ten_studies(users, api_for, make_study):
    client = api_for(users["product_manager"])
    make_study()
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/studies/").json()["count"] == 1
    for i in range(9):
        make_study(name=f"study {i}")
    with CaptureQueriesContext(connection) as ten:
        assert client.get("/api/v1/studies/").json()["count"] == 10
    assert len(one) == len(ten) == 3  # token user, count, page


@pytest.mark.parametrize("role", ROLES)
def test_next_and_vote_permissions(role, users, api_for, open_study):
    client = api_for(users[role])
    listed = client.get("/api/v1/studies/").json()
    response = client.get(f"/api/v1/studies/{open_study.pk}/next/")
    served = Showing.objects.filter(rater=users[role]).first()
    token = served.comparison.token if served else open_study.comparisons.order_by("order").first().token
    vote = client.post(f"/api/v1/comparisons/{token}/vote/", {"choice": "tie", "time_spent_ms": 900}, format="json")
    if role in RATERS:
        assert [s["id"] for s in listed["results"]] == [open_study.pk]
        assert response.status_code == 200
        assert response.json()["token"] == token
        assert vote.status_code == 201
        assert vote.json() == {"token": token, "choice": "tie"}
        assert list(Vote.objects.values_list("rater__username", "choice", "time_spent_ms")) == [(role, "tie", 900)]
    else:
        assert response.status_code == 404
        assert vote.status_code == 404
        assert Vote.objects.count() == Showing.objects.count() == 0
    # Raters never read results.
    assert client.get(f"/api/v1/studies/{open_study.pk}/results/").status_code == (
        200 if role in RESULT_READERS else 404
    )


def test_voting_through_the_api_until_nothing_is_left(users, api_for, open_study):
    client = api_for(users["crowd_annotator"])
    tokens, counts = [], []
    while True:
        with CaptureQueriesContext(connection) as served:
            response = client.get(f"/api/v1/studies/{open_study.pk}/next/")
        if response.status_code != 200:
            break
        with CaptureQueriesContext(connection) as reloaded:
            assert client.get(f"/api/v1/studies/{open_study.pk}/next/").json() == response.json()
        tokens.append(response.json()["token"])
        with CaptureQueriesContext(connection) as voted:
            assert (
                client.post(f"/api/v1/comparisons/{tokens[-1]}/vote/", {"choice": "left"}, format="json").status_code
                == 201
            )
        counts.append((len(served), len(reloaded), len(voted)))
    assert response.status_code == 204
    # Whatever the rater's history: a new pick, a reload of it (token user, study, the pending showing, in a
    # transaction) and a vote each cost the same.
    assert counts == [(13, 5, 10)] * 4
    assert sorted(tokens) == sorted(open_study.comparisons.values_list("token", flat=True))
    again = client.post(f"/api/v1/comparisons/{tokens[0]}/vote/", {"choice": "right"}, format="json")
    assert again.status_code == 400
    assert again.json() == {
        "detail": "you have already voted on this comparison",
        "where": "comparison",
        "code": "already_voted",
    }
    assert Vote.objects.count() == 4
    results = api_for(users["product_manager"]).get(f"/api/v1/studies/{open_study.pk}/results/").json()
    assert results["counts"] == {
        "prompts": 4,
        "comparisons": 4,
        "identical": 0,
        "gold": 0,
        "repeats": 0,
        "votes": 4,
        "counted_votes": 4,
    }
    assert results["results"][0]["votes"] == 4


@pytest.mark.parametrize("role", ROLES)
def test_retry_and_abandon_permissions(role, users, api_for, make_study):
    study = make_study()
    Study.objects.filter(pk=study.pk).update(updated_at=study.updated_at - STALE_AFTER)
    client = api_for(users[role])
    response = client.post(f"/api/v1/studies/{study.pk}/abandon/")
    if role in MANAGERS:
        assert response.status_code == 200
        assert response.json()["status"] == "failed"
        retried = client.post(f"/api/v1/studies/{study.pk}/retry/")
        assert (retried.status_code, retried.json()["status"]) == (200, "generating")
        closed = client.post(f"/api/v1/studies/{study.pk}/close/")
        assert (closed.status_code, closed.json()["code"], closed.json()["where"]) == (400, "not_open", "status")
    else:
        assert response.status_code == 404
        assert client.post(f"/api/v1/studies/{study.pk}/retry/").status_code == 404
        assert client.post(f"/api/v1/studies/{study.pk}/close/").status_code == 404
        assert Study.objects.get(pk=study.pk).status == "generating"


def test_create_a_study_over_prompts_given_in_the_body(
    users, api_for, workspace, tiny_base_model, candidate_base_model
):
    body = _create_body(
        workspace,
        None,
        tiny_base_model,
        candidate_base_model,
        labels=["tone"],
        prompts=[{"messages": [{"role": "user", "content": "Hi?"}]}, [{"role": "user", "content": "Bye?"}]],
    )
    del body["dataset_version"]
    client = api_for(users["product_manager"])
    response = client.post("/api/v1/studies/", body, format="json")
    assert response.status_code == 201, response.json()
    detail = client.get(f"/api/v1/studies/{response.json()['id']}/").json()
    assert (detail["dataset_version"], detail["upload_name"], detail["split"], detail["labels"]) == (
        None,
        "api",
        "",
        ["tone"],
    )
    assert detail["counts"]["prompts"] == 2
    bad = client.post("/api/v1/studies/", {**body, "prompts": [{"messages": []}]}, format="json")
    assert (bad.status_code, bad.json()["where"]) == (400, "prompts line 1")
