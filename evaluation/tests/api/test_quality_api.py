"""Gold marking, gold uploads, rater exclusion and the reliability table over the REST API (token auth)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.models import HistoryEvent
from evaluation.models import Comparison, RaterExclusion, StudyPrompt, Vote
from evaluation.services import showing_serve, vote_submit
from evaluation.tests.fixtures import vote_as_stored

MANAGERS = {"admin", "product_manager"}
ROLES = ["admin", "product_manager", "ml_engineer", "reviewer", "crowd_annotator", "outsider"]


def _gold(n: int) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"Question {i}?"}], "chosen": f"Right {i}", "rejected": f"Wrong {i}"}
        for i in range(n)
    ]


@pytest.fixture
def gold_study(make_study, answer_studies):
    study = make_study(gold_rate=0.25, repeat_rate=0.25, gold_threshold=0.8)
    answer_studies()
    study.refresh_from_db()
    assert study.status == "open", study.error
    return study


def test_create_takes_the_quality_settings_and_detail_shows_them(gold_study, users, api_for):
    body = api_for(users["product_manager"]).get(f"/api/v1/studies/{gold_study.pk}/").json()
    assert (body["gold_rate"], body["repeat_rate"], body["gold_threshold"]) == (0.25, 0.25, 0.8)
    assert body["counts"] == {
        "prompts": 4,
        "comparisons": 4,
        "identical": 0,
        "gold": 0,
        "repeats": 1,
        "votes": 0,
        "counted_votes": 0,
    }


@pytest.mark.parametrize("role", ROLES)
def test_gold_upload_permissions(role, gold_study, users, api_for):
    response = api_for(users[role]).post(f"/api/v1/studies/{gold_study.pk}/gold/", {"items": _gold(2)}, format="json")
    if role in MANAGERS:
        assert (response.status_code, response.json()) == (201, {"added": 2})
        assert Comparison.objects.filter(study=gold_study, gold_answer__isnull=False).count() == 2
    else:
        assert response.status_code == 404
        assert not StudyPrompt.objects.filter(is_gold=True).exists()


def test_a_bad_gold_upload_names_the_line(gold_study, users, api_for):
    items = _gold(1) + [{"messages": [{"role": "user", "content": "Hi"}], "chosen": "Same", "rejected": "Same"}]
    response = api_for(users["product_manager"]).post(
        f"/api/v1/studies/{gold_study.pk}/gold/", {"items": items}, format="json"
    )
    assert response.status_code == 400
    assert "the better and the worse answer are the same text" in str(response.json())
    assert not StudyPrompt.objects.filter(is_gold=True).exists()


def test_the_comparison_list_costs_the_same_queries_for_one_and_ten_rows(gold_study, users, api_for):
    client = api_for(users["product_manager"])
    client.post(f"/api/v1/studies/{gold_study.pk}/gold/", {"items": _gold(1)}, format="json")
    with CaptureQueriesContext(connection) as one:
        body = client.get(f"/api/v1/studies/{gold_study.pk}/comparisons/?gold=1").json()
    assert body["count"] == 1
    [row] = body["results"]
    assert (row["left_arm"], row["right_arm"], row["gold"], row["has_repeat"]) == (None, None, row["gold"], False)
    assert {row["left"], row["right"]} == {"Right 0", "Wrong 0"} and row[row["gold"]] == "Right 0"
    client.post(f"/api/v1/studies/{gold_study.pk}/gold/", {"items": _gold(6)}, format="json")
    with CaptureQueriesContext(connection) as ten:
        body = client.get(f"/api/v1/studies/{gold_study.pk}/comparisons/").json()
    assert body["count"] == 11 and len(body["results"]) == 11  # 4 regular + 7 gold; the repeat is not listed
    assert [r["gold"] is not None for r in body["results"]] == [True] * 7 + [False] * 4
    assert sum(r["has_repeat"] for r in body["results"]) == 1
    # Managers see the arms of model-written comparisons (which side is which follows each comparison's seeded coin).
    assert all({r["left_arm"], r["right_arm"]} == {"baseline-arm", "candidate-arm"} for r in body["results"][7:])
    assert len(one) == len(ten)


@pytest.mark.parametrize("role", ROLES)
def test_marking_gold_permissions(role, gold_study, users, api_for):
    comparison = Comparison.objects.filter(study=gold_study, repeat_of=None).order_by("order").first()
    response = api_for(users[role]).post(
        f"/api/v1/studies/{gold_study.pk}/comparisons/{comparison.pk}/gold/", {"better": "right"}, format="json"
    )
    comparison.refresh_from_db()
    if role in MANAGERS:
        assert response.status_code == 200
        assert (response.json()["gold"], comparison.gold_answer_id) == ("right", comparison.right_answer_id)
    else:
        assert response.status_code == 404
        assert comparison.gold_answer_id is None


def test_raters_never_reach_the_comparison_list(gold_study, users, api_for):
    assert api_for(users["crowd_annotator"]).get(f"/api/v1/studies/{gold_study.pk}/comparisons/").status_code == 404


def test_results_carry_the_reliability_table_and_exclusion_is_the_managers_call(gold_study, users, api_for):
    pm, rater = users["product_manager"], users["crowd_annotator"]
    api_for(pm).post(f"/api/v1/studies/{gold_study.pk}/gold/", {"items": _gold(1)}, format="json")
    gold = Comparison.objects.get(study=gold_study, gold_answer__isnull=False)
    wrong = "right" if gold.gold_answer_id == gold.left_answer_id else "left"
    vote_as_stored(comparison=gold, rater=rater, choice=wrong, time_spent_ms=3000)
    vote_submit(
        comparison=showing_serve(study=gold_study, rater=rater).comparison,
        rater=rater,
        choice="tie",
        time_spent_ms=1000,
    )
    results = api_for(users["ml_engineer"]).get(f"/api/v1/studies/{gold_study.pk}/results/").json()
    [row] = results["raters"]
    assert {
        k: row[k]
        for k in (
            "username",
            "votes",
            "counted_votes",
            "gold_votes",
            "gold_correct",
            "gold_accuracy",
            "median_seconds",
            "flagged",
            "excluded",
        )
    } == {
        "username": "crowd_annotator",
        "votes": 2,
        "counted_votes": 1,
        "gold_votes": 1,
        "gold_correct": 0,
        "gold_accuracy": 0.0,
        "median_seconds": 2.0,
        "flagged": True,
        "excluded": False,
    }
    assert (row["gold_low"], round(row["gold_high"], 4)) == (0.0, 0.7935)
    assert results["results"][0]["votes"] == 1 and results["counts"]["counted_votes"] == 1

    url = f"/api/v1/studies/{gold_study.pk}/raters/{rater.pk}/exclude/"
    for role in ("ml_engineer", "crowd_annotator", "outsider"):
        assert api_for(users[role]).post(url, {"reason": "x"}, format="json").status_code == 404
    assert not RaterExclusion.objects.exists()
    response = api_for(pm).post(url, {"reason": "fails gold"}, format="json")
    assert response.status_code == 200 and response.json()[0]["excluded"] is True
    results = api_for(pm).get(f"/api/v1/studies/{gold_study.pk}/results/").json()
    assert (
        results["results"][0]["votes"],
        results["counts"]["counted_votes"],
        results["raters"][0]["exclusion_reason"],
    ) == (0, 0, "fails gold")
    assert api_for(pm).post(url, {}, format="json").status_code == 400  # already left out
    assert (
        api_for(pm).post(f"/api/v1/studies/{gold_study.pk}/raters/{rater.pk}/include/", {}, format="json").status_code
        == 200
    )
    assert (
        api_for(pm)
        .post(f"/api/v1/studies/{gold_study.pk}/raters/{users['reviewer'].pk}/exclude/", {}, format="json")
        .status_code
        == 404
    )
    assert list(
        HistoryEvent.objects.filter(target_type="evaluation.study", target_id=gold_study.pk, verb__startswith="rater_")
        .order_by("pk")
        .values_list("verb", flat=True)
    ) == ["rater_excluded", "rater_included"]
    assert Vote.objects.count() == 2
