"""A blind study stays blind: an observer who knows every public fact cannot tell on which side a rater sees an arm.

The observer knows the study id (it is in the vote URL), the seed, the uploaded prompts in their order (so each
comparison's place in creation order), the tokens, the waiting counts, the order in which each rater was served and
every side each rater saw before. Two raters vote through 210 comparisons over HTTP, one through the API and one
through the vote page, each reloading once before voting. For each comparison the test (which reads the database; the
observer does not) notes whether the baseline's answer was on the left; each of the observer's strategies is then
scored with a binomial test against a fair coin.
"""

import html
import random
import re

import pytest
from django.test import Client
from django.urls import reverse
from scipy.stats import binomtest

from evaluation.models import Answer, Comparison, Vote

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROMPTS = 210
SEED = 0
# Each strategy is a two-sided test against chance; at this level a correct implementation fails one run in a hundred
# thousand per strategy (CI must not flake), while the seeded coin of old scores 420 of 420 (p < 1e-120) and an observer
# right 62% of the time over 420 sides is caught.
ALPHA = 1e-5


def _prompts() -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"Order {i}: parcel {i * 7919 % 1000} has not arrived, what now?"}]}
        for i in range(PROMPTS)
    ]


@pytest.fixture
def big_study(users, tiny_base_model, candidate_base_model, api_for, run_jobs, django_capture_on_commit_callbacks):
    body = {
        "workspace": tiny_base_model.workspace_id,
        "name": "Blind enough?",
        "prompts": _prompts(),
        "max_prompts": PROMPTS,
        "max_new_tokens": 4,
        "votes_per_comparison": 2,
        "seed": SEED,
        "arms": [
            {"name": "baseline-arm", "base_model": tiny_base_model.pk, "is_baseline": True},
            {"name": "candidate-arm", "base_model": candidate_base_model.pk},
        ],
    }
    response = api_for(users["product_manager"]).post("/api/v1/studies/", body, format="json")
    assert response.status_code == 201, response.content
    run_jobs()
    study_id = response.json()["id"]
    assert api_for(users["product_manager"]).get(f"/api/v1/studies/{study_id}/").json()["status"] == "open"
    return study_id


def _seeded_coin_of_old(study_id: int) -> list[bool]:
    """Per comparison in creation order (one candidate: one per prompt), whether the old seeded coin put the baseline
    on the left: random.Random over study id and seed, one draw per comparison."""
    rng = random.Random(f"study:{study_id}:seed:{SEED}")
    return [not rng.random() < 0.5 for _ in range(PROMPTS)]


def _served_by_api(api, study_id: int) -> list[dict]:
    """Every comparison served to the API's rater: token, prompt, left and right text; each read twice before the
    vote."""
    served = []
    while (first := api.get(f"/api/v1/studies/{study_id}/next/")).status_code == 200:
        again = api.get(f"/api/v1/studies/{study_id}/next/")
        assert again.json() == first.json()  # a reload shows the same comparison, same sides
        body = first.json()
        served.append(
            {
                "token": body["token"],
                "prompt": body["prompt"][-1]["content"],
                "left": body["left"],
                "right": body["right"],
            }
        )
        assert (
            api.post(f"/api/v1/comparisons/{body['token']}/vote/", {"choice": "left"}, format="json").status_code == 201
        )
        assert len(served) <= PROMPTS
    assert first.status_code == 204
    return served


def _between(page: str, start: str, end: str) -> str:
    at = page.index(start) + len(start)
    return page[at:page.index(end, at)]


def _served_by_page(client: Client, study_id: int) -> list[dict]:
    """The same through the vote page: the texts as the page shows them, the token of its form."""
    url = reverse("evaluation:vote", args=[study_id])
    served = []
    while 'id="vote-form"' in (page := client.get(url).content.decode()):
        again = client.get(url).content.decode()
        seen = {"token": _between(page, 'name="token" value="', '"'),
                "prompt": html.unescape(re.findall(r'<span class="role">[^<]*</span>([^<]*)</div>', page)[-1]),
                "left": html.unescape(_between(page, 'id="answer-left">', "</div>")),
                "right": html.unescape(_between(page, 'id="answer-right">', "</div>"))}
        assert seen == {"token": _between(again, 'name="token" value="', '"'), "prompt": seen["prompt"],
                        "left": html.unescape(_between(again, 'id="answer-left">', "</div>")),
                        "right": html.unescape(_between(again, 'id="answer-right">', "</div>"))}
        served.append(seen)
        assert client.post(url, {"token": seen["token"], "choice": "left", "time_spent_ms": "900"}).status_code == 302
        assert len(served) <= PROMPTS
    assert 'id="vote-done"' in page
    return served


def _baseline_left(served: list[dict], study_id: int) -> list[bool]:
    """The truth the observer tries to guess: was the baseline's answer on the left? (The test reads the database.)"""
    baseline = dict(
        Answer.objects.filter(prompt__study_id=study_id, arm__is_baseline=True).values_list("prompt_id", "text")
    )
    prompt_of = dict(Comparison.objects.filter(study_id=study_id).values_list("token", "prompt_id"))
    truth = []
    for seen in served:
        text = baseline[prompt_of[seen["token"]]]
        assert text in (seen["left"], seen["right"]) and seen["left"] != seen["right"]
        truth.append(seen["left"] == text)
    return truth


def _p(hits: int, n: int) -> float:
    return binomtest(hits, n, 0.5).pvalue


def test_an_observer_who_knows_every_public_fact_predicts_the_sides_no_better_than_chance(big_study, users, api_for):
    study_id = big_study
    first = _served_by_api(api_for(users["crowd_annotator"]), study_id)
    page_client = Client()
    page_client.force_login(users["staff_annotator"])
    second = _served_by_page(page_client, study_id)
    shown = Comparison.objects.filter(study_id=study_id, is_identical=False).count()
    assert len(first) == len(second) == shown >= 200
    assert {s["token"] for s in first} == {s["token"] for s in second}

    truth_first, truth_second = _baseline_left(first, study_id), _baseline_left(second, study_id)
    creation_index = {p["messages"][0]["content"]: i for i, p in enumerate(_prompts())}
    coin = _seeded_coin_of_old(study_id)
    strategies: dict[str, list[tuple[bool, bool]]] = {
        # the seeded coin over (study id, seed), replayed in creation order
        "seeded coin": [
            (coin[creation_index[s["prompt"]]], t) for s, t in zip(first + second, truth_first + truth_second)
        ],
        # the answer created first (the baseline) on the left
        "creation order": [(True, t) for t in truth_first + truth_second],
        # the side the other rater saw for the same comparison
        "same as the other rater": [
            (dict(zip([s["token"] for s in first], truth_first))[s["token"]], t) for s, t in zip(second, truth_second)
        ],
        # the side the same rater saw on the comparison before
        "same as the one before": [
            (truth[i - 1], truth[i]) for truth in (truth_first, truth_second) for i in range(1, len(truth))
        ],
    }
    for name, guesses in strategies.items():
        hits = sum(guess == truth for guess, truth in guesses)
        assert _p(hits, len(guesses)) > ALPHA, f"{name}: {hits} of {len(guesses)} sides guessed"

    # Each rater's sides are their own, and so is the order each was served in.
    by_token = dict(zip([s["token"] for s in first], truth_first))
    assert [by_token[s["token"]] for s in second] != truth_second
    assert [s["token"] for s in first] != [s["token"] for s in second]
    # Nor does the order of service follow the comparisons' stored order: the observer who always predicts the waiting
    # comparison with the lowest stored order is right about ln(n) times in n by luck.
    order = dict(Comparison.objects.filter(study_id=study_id).values_list("token", "order"))
    for served in (first, second):
        waiting = sorted(order[s["token"]] for s in served)
        hits = 0
        for s in served:
            hits += order[s["token"]] == waiting[0]
            waiting.remove(order[s["token"]])
        assert hits < len(served) // 10, hits
    # Every vote counted the answer the rater saw on the left.
    for served, rater in ((first, users["crowd_annotator"]), (second, users["staff_annotator"])):
        votes = {v.comparison.token: v for v in Vote.objects.filter(rater=rater).select_related(
            "comparison__left_answer", "comparison__right_answer")}
        for s in served:
            vote = votes[s["token"]]
            picked = vote.comparison.left_answer if vote.choice == "left" else vote.comparison.right_answer
            assert (vote.choice in ("left", "right"), picked.text) == (True, s["left"])
