"""LLM judges: verdict parsing, both orders combined, and a judge run against Whetstone's own model server."""

import pytest

from common.errors import ApplicationError
from evaluation.models import Comparison, Judge, JudgeVerdict
from evaluation.selectors import study_judge_results
from evaluation.services import judge_create, judge_run
from evaluation.tests.fixtures import vote_as_stored
from evaluation.services.judges import DEFAULT_JUDGE_PROMPT, judge_prompt_fill, verdict_parse, verdicts_combine


@pytest.mark.parametrize(("text", "verdict"), [
    ("[[A]]", "A"), ("After thinking: [[B]] is better", "B"), ("[[C]]", "tie"), ("[[ A ]] then [[B]]", "A"),
    ("A", "A"), ("b. The second one", "B"), ("Tie.", "tie"), ("Answer A is better", "A"),
    ("", "invalid"), ("Both are fine", "invalid"), ("zq xv lorem", "invalid"), ("Absolutely", "invalid"),
])
def test_verdicts_are_parsed_robustly(text, verdict):
    assert verdict_parse(text) == verdict


@pytest.mark.parametrize(("shown", "swapped", "combined"), [
    ("A", "B", "left"),  # left as A wins, then left as B wins: consistent
    ("B", "A", "right"),
    ("A", "A", "tie"),  # the judge prefers whatever comes first: a flip
    ("B", "B", "tie"),
    ("tie", "tie", "tie"),
    ("A", "tie", "tie"),
    ("A", "invalid", "invalid"),
])
def test_both_orders_combine_and_a_flip_is_a_tie(shown, swapped, combined):
    assert verdicts_combine(shown, swapped)[2] == combined


def test_the_prompt_is_filled_without_format_surprises():
    text = judge_prompt_fill(
        prompt=DEFAULT_JUDGE_PROMPT,
        question="Which is kinder?",
        messages=[{"role": "user", "content": "Hi {x}"}],
        answer_a="Hello {answer_b}",
        answer_b="Bye",
    )
    assert "user: Hi {x}" in text and "[Answer A]\nHello {answer_b}" in text and "[Answer B]\nBye" in text
    assert "[Question for the judge] Which is kinder?" in text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_judge_of_random_text_counts_unreadable_verdicts_as_ties(open_study, tiny_endpoint, users, api_for, run_jobs):
    comparisons = list(Comparison.objects.filter(study=open_study).select_related("left_answer__arm").order_by("order"))
    for comparison in comparisons:
        vote_as_stored(comparison=comparison, rater=users["crowd_annotator"], choice="left")
    response = api_for(users["product_manager"]).post(
        f"/api/v1/studies/{open_study.pk}/judges/", {"endpoint": tiny_endpoint.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    run_jobs()
    judge = Judge.objects.get()
    assert judge.status == "done", judge.error
    assert JudgeVerdict.objects.filter(judge=judge).count() == len(comparisons)
    [result] = study_judge_results(study=open_study)
    # The tiny model answers with random text: whatever it says, every verdict is one of the four outcomes, and the
    # judge's tally covers every comparison, unreadable ones as ties.
    assert result.verdicts == len(comparisons)
    [(arm, summary)] = result.candidates
    assert (arm.name, summary.votes) == ("candidate-arm", len(comparisons))
    assert summary.wins + summary.losses + summary.ties == len(comparisons)
    assert result.human_pairs == len(comparisons)
    readable = JudgeVerdict.objects.filter(judge=judge).exclude(outcome="invalid").count()
    assert summary.ties >= result.invalid == len(comparisons) - readable
    # A judge is asked once: running it again changes nothing.
    assert judge_run(judge=judge) == judge and JudgeVerdict.objects.count() == len(comparisons)
    results = api_for(users["ml_engineer"]).get(f"/api/v1/studies/{open_study.pk}/results/").json()
    assert [(j["endpoint"], j["status"], j["verdicts"]) for j in results["judges"]] == [
        ("tiny local", "done", len(comparisons))
    ]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_judge_create_checks_and_permissions(open_study, make_study, tiny_endpoint, users, api_for):
    with pytest.raises(ApplicationError) as error:
        judge_create(study=open_study, endpoint=tiny_endpoint, prompt="Just say A or B")
    assert error.value.message == "the prompt must contain {conversation}, {answer_a}, {answer_b}"
    generating = make_study(name="Still generating")
    with pytest.raises(ApplicationError) as error:
        judge_create(study=generating, endpoint=tiny_endpoint)
    assert error.value.message == "a judge needs the study's comparisons; this study is generating"
    for role in ("ml_engineer", "crowd_annotator", "outsider"):
        response = api_for(users[role]).post(
            f"/api/v1/studies/{open_study.pk}/judges/", {"endpoint": tiny_endpoint.pk}, format="json"
        )
        assert response.status_code == 404
    assert Judge.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_manager_adds_a_judge_from_the_study_page(open_study, workspace, users):
    from django.test import Client
    from django.urls import reverse

    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(
        workspace=workspace, name="judge model", base_url="http://model.invalid/v1", model="m"
    )
    manager, engineer = Client(), Client()
    manager.force_login(users["product_manager"])
    engineer.force_login(users["ml_engineer"])
    page = reverse("evaluation:study-detail", args=[open_study.pk])
    html = manager.get(page).content.decode()
    assert 'id="judge-form"' in html and f'<option value="{endpoint.pk}">judge model</option>' in html
    assert 'id="judge-form"' not in engineer.get(page).content.decode()  # reads results, does not run studies
    response = manager.post(
        reverse("evaluation:judge-add", args=[open_study.pk]), {"endpoint": str(endpoint.pk), "prompt": ""}, follow=True
    )
    assert "The judge is at work" in response.content.decode()
    judge = Judge.objects.get()
    assert (judge.endpoint, judge.prompt, judge.status) == (endpoint, DEFAULT_JUDGE_PROMPT, "queued")
    assert 'id="judge-table"' in engineer.get(page).content.decode()
    assert (
        engineer.post(reverse("evaluation:judge-add", args=[open_study.pk]), {"endpoint": str(endpoint.pk)}).status_code
        == 404
    )
