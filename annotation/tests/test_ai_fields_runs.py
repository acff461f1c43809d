"""AI annotators answer the schema's other questions in real runs: against the project's own model server, with the
realistic answers stored in the client's response cache under the exact keys of the run's requests (as in
services/test_ai_annotators), so the real client, prompt, reader, claim and submit run; a prompt that differed from
the one seeded would reach the tiny model, whose gibberish fails every item."""

import re

import pytest
from django.urls import reverse

from annotation.models import AIAnnotator, AIAnswer, AIRun, Annotation, Assignment
from annotation.services import (
    ai_annotator_create,
    ai_run_create,
    ai_run_execute,
    annotation_project_schema_move,
    label_schema_create,
)
from annotation.services.ai_annotators import _records_of
from annotation.services.ai_answers import DEFAULT_PROMPT, DEFAULT_PROMPT_WITH_QUESTIONS
from annotation.tests.fixtures import TOPIC_TREE, ai_replies_seed, preference_row
from common.errors import ApplicationError
from llm.models import ModelCall


def chat_row(i: int) -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": f"Question {i}: I cannot log in."},
                                        {"role": "assistant", "content": f"Answer {i}: reset your password."}]}


# Question number -> what the model answers (questions 0-2 and 4 have two answers; 3 has one, so no preference is
# asked).
ANSWERS = {
    0: '```json\n{"labels": ["billing/refund"], "rating": 4, "free_text": "Say how <b>long</b> it takes.", "preference": "a"}\n```',
    1: '{"labels": ["billing/refund"], "rating": 7, "free_text": "", "preference": "b"}',
    2: '{"labels": ["billing/refund"], "rating": 3, "free_text": "Fine."}',
    3: '{"labels": ["account/login"], "rating": 2}',
    4: "Labels: billing/invoice\nRating: 5\nFree text: Both are\nequally vague.\nPreference: Tie",
}


@pytest.fixture
def rated_schema(workspace, users):
    return label_schema_create(
        workspace=workspace,
        name="Rated",
        tree=TOPIC_TREE,
        rating_scale=5,
        rating_question="How helpful is answer A?",
        free_text_question="What would improve it?",
        pairwise_question="Which answer is better?",
        created_by=users["ml_engineer"],
    )


@pytest.fixture
def rated_project(annotation_project_factory, annotation_version_factory, rated_schema):
    rows = [preference_row(0), preference_row(1), preference_row(2), chat_row(3), preference_row(4)]
    return annotation_project_factory(
        version=annotation_version_factory(rows=rows), schema=rated_schema, mode="ai_assists", name="Rated answers"
    )


def seed_answers(ai, project, answers: dict[int, str]) -> None:
    """Store `answers` (question number -> text) as the cached replies to the run's exact requests."""
    ai_replies_seed(
        ai,
        project,
        lambda index, record: answers[int(re.match(r"Question (\d+)", record.messages[0]["content"]).group(1))],
    )


def run_rated(project, endpoint, users):
    ai = ai_annotator_create(project=project, name="Rater", endpoint=endpoint, created_by=users["ml_engineer"])
    seed_answers(ai, project, ANSWERS)
    return ai, ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=5, enqueue=False))


def _number(task_id: int) -> int:
    record = _records_of([Assignment(task_id=task_id)])[task_id]
    return int(re.match(r"Question (\d+)", record.messages[0]["content"]).group(1))


@pytest.mark.django_db(transaction=True)
def test_a_run_answers_every_question_and_an_unusable_field_fails_its_item(rated_project, tiny_endpoint, users):
    ai, run = run_rated(rated_project, tiny_endpoint, users)

    assert (run.status, run.processed, run.annotated, run.failed, run.error) == ("done", 5, 3, 2, "")
    assert (ai.prompt_template, ai.max_tokens) == (DEFAULT_PROMPT_WITH_QUESTIONS, 256)
    # Every request was answered from the seeded cache: the run sent exactly the prompts with the questions.
    calls = ModelCall.objects.filter(purpose=f"ai annotator {ai.pk} run {run.pk}")
    assert list(calls.values_list("cached", flat=True)) == [True] * 5
    answers = {_number(a.task_id): a for a in AIAnswer.objects.filter(run=run)}
    read = {n: (a.outcome, a.label_paths, a.rating, a.free_text, a.preference, a.reason) for n, a in answers.items()}
    assert read == {
        0: ("annotated", ["billing/refund"], 4, "Say how <b>long</b> it takes.", "a", ""),
        1: ("failed", [], None, "", "", "rating 7 is outside 1..5"),
        2: ("failed", [], None, "", "", "no preference in the answer"),
        3: ("annotated", ["account/login"], 2, "", "", ""),
        4: ("annotated", ["billing/invoice"], 5, "Both are\nequally vague.", "tie", ""),
    }
    assert {n: a.response_text for n, a in answers.items()} == ANSWERS
    made = {
        _number(a.task_id): (
            a.annotator_kind,
            [label.path for label in a.labels.all()],
            a.rating,
            a.free_text,
            a.preference,
        )
        for a in Annotation.objects.filter(annotator=ai.user)
    }
    assert made == {
        0: ("ai", ["billing/refund"], 4, "Say how <b>long</b> it takes.", "a"),
        3: ("ai", ["account/login"], 2, "", ""),
        4: ("ai", ["billing/invoice"], 5, "Both are\nequally vague.", "tie"),
    }
    assert {answers[n].annotation_id for n in (0, 3, 4)} == set(Annotation.objects.values_list("pk", flat=True))
    # The unusable items are skipped exactly as for an unusable label: their slots are free for people.
    skipped = Assignment.objects.filter(status="skipped").values_list("task_id", "skip_reason")
    skipped = {_number(task_id): reason for task_id, reason in skipped}
    assert skipped == {
        1: "AI answer unusable: rating 7 is outside 1..5",
        2: "AI answer unusable: no preference in the answer",
    }


@pytest.mark.django_db(transaction=True)
def test_the_api_and_the_run_page_show_the_answers_to_the_questions(
    rated_project, tiny_endpoint, users, api_for, client
):
    ai, run = run_rated(rated_project, tiny_endpoint, users)
    detail = api_for(users["ml_engineer"]).get(f"/api/v1/annotation/ai-runs/{run.pk}/").json()
    rows = {
        _number(row["task_id"]): (
            row["outcome"],
            row["label_paths"],
            row["rating"],
            row["free_text"],
            row["preference"],
            row["reason"],
        )
        for row in detail["answers"]
    }
    assert rows[0] == ("annotated", ["billing/refund"], 4, "Say how <b>long</b> it takes.", "a", "")
    assert rows[1] == ("failed", [], None, "", "", "rating 7 is outside 1..5")
    assert rows[4] == ("annotated", ["billing/invoice"], 5, "Both are\nequally vague.", "tie", "")

    client.force_login(users["ml_engineer"])
    page = client.get(reverse("annotation:ai-run", args=[run.pk])).content.decode()
    assert "<th>Rating</th><th>Better answer</th><th>Free text</th>" in page
    assert re.findall(r'<td class="ai-rating">(\d*)</td>', page).count("") == 2
    assert sorted(re.findall(r'<td class="ai-rating">(\d+)</td>', page)) == ["2", "4", "5"]
    assert sorted(re.findall(r'<td class="ai-preference">([^<]*)</td>', page)) == ["", "", "", "Answer A", "Tie"]
    assert "Say how &lt;b&gt;long&lt;/b&gt; it takes." in page and "<b>long</b>" not in page


@pytest.mark.django_db
def test_create_picks_the_prompt_for_the_schema_and_refuses_a_template_without_questions(
    rated_project, annotation_project, workspace, users
):
    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    with pytest.raises(ApplicationError) as refused:
        ai_annotator_create(
            project=rated_project, name="Custom", endpoint=endpoint, prompt_template="{labels}\n{conversation}"
        )
    assert str(refused.value) == (
        "prompt_template: the schema Rated v1 also asks for a rating, a free-text answer, a preference "
        "between two answers; the prompt must contain {questions}, which is replaced by the questions and "
        "the answer format"
    )
    assert AIAnnotator.objects.count() == 0
    asked = ai_annotator_create(project=rated_project, name="Custom", endpoint=endpoint,
                                prompt_template="{labels}\n{conversation}\n{questions}", max_tokens=100)
    default = ai_annotator_create(project=rated_project, name="Default", endpoint=endpoint)
    plain = ai_annotator_create(project=annotation_project, name="Plain", endpoint=endpoint)
    assert [(ai.prompt_template, ai.max_tokens) for ai in (asked, default, plain)] == [
        ("{labels}\n{conversation}\n{questions}", 100), (DEFAULT_PROMPT_WITH_QUESTIONS, 256), (DEFAULT_PROMPT, 64)]


@pytest.mark.django_db
def test_a_schema_that_gains_questions_stops_an_annotator_whose_prompt_cannot_ask_them(
    annotation_project, workspace, users
):
    from llm.services.endpoints import model_endpoint_create

    project = annotation_project
    project.mode = "ai_assists"
    project.save(update_fields=["mode"])
    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    ai = ai_annotator_create(
        project=project, name="Plain", endpoint=endpoint, prompt_template="{labels}\n{conversation}"
    )
    queued = ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    rated = label_schema_create(
        workspace=workspace, name="Topic", tree=TOPIC_TREE, rating_scale=5, created_by=users["ml_engineer"]
    )
    annotation_project_schema_move(project=project, schema=rated, mapping={}, moved_by=users["ml_engineer"])
    ai.refresh_from_db()
    message = (
        "prompt_template: the schema Topic v2 also asks for a rating; the prompt must contain {questions}, which is replaced by "
        "the questions and the answer format"
    )
    with pytest.raises(ApplicationError) as refused:
        ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    assert str(refused.value) == message
    run = ai_run_execute(run=queued)
    assert (run.status, run.error, run.processed) == ("failed", message, 0)
    assert (AIRun.objects.count(), Assignment.objects.count(), AIAnswer.objects.count()) == (1, 0, 0)


def test_the_api_and_the_page_offer_the_prompt_with_questions(api_for, client, users, rated_project, workspace):
    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    url = f"/api/v1/annotation/projects/{rated_project.pk}/ai-annotators/"
    api = api_for(users["ml_engineer"])
    refused = api.post(
        url, {"name": "Custom", "endpoint": endpoint.pk, "prompt_template": "{labels} {conversation}"}, format="json"
    )
    assert refused.status_code == 400
    assert "the prompt must contain {questions}" in str(refused.json())
    assert AIAnnotator.objects.count() == 0
    made = api.post(url, {"name": "Default", "endpoint": endpoint.pk}, format="json").json()
    assert (made["prompt_template"], made["max_tokens"]) == (DEFAULT_PROMPT_WITH_QUESTIONS, 256)

    client.force_login(users["ml_engineer"])
    page = client.get(reverse("annotation:project-ai", args=[rated_project.pk])).content.decode()
    assert 'id="ai-questions"' in page
    assert "[Conversation]\n{conversation}\n\n{questions}</textarea>" in page
    assert re.search(r'name="max_tokens" value="256"', page)
