"""AI annotators rank a ranking item's answers: the prompt numbers the answers, the reader turns the numbers into the
item's entries, and a real run (the project's own model server, answers seeded in the response cache under the run's
exact requests, as in test_ai_fields_runs) submits the ranking through the queue or fails the item with a reason."""

import re

import pytest

from annotation.models import AIAnswer, Annotation, AnnotationTask, Assignment
from annotation.selectors import candidates_shown
from annotation.services import ai_annotator_create, ai_run_create, ai_run_execute, label_schema_create
from annotation.services.ai_answers import AnswerUnusable, ai_answer_read, ai_prompt_fill, ai_questions
from annotation.tests.fixtures import TOPIC_TREE, ai_replies_seed
from llm.models import ModelCall


def answer_row(question: int, answer: int) -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": f"Question {question}: where is my parcel?"},
                                        {"role": "assistant", "content": f"Draft {answer} for question {question}."}]}


@pytest.fixture
def ranking_schema(workspace, users):
    return label_schema_create(
        workspace=workspace,
        name="Ranked",
        tree=TOPIC_TREE,
        ranking_question="Which draft would you send first?",
        created_by=users["ml_engineer"],
    )


def _question(entries=(11, 12, 13)):
    from annotation.models import LabelSchema
    from datahub.models import Record

    schema = LabelSchema(name="R", rating_scale=0, ranking_question="Best first?")
    record = Record(kind="sft", messages=answer_row(0, 0)["messages"])
    candidates = candidates_shown(list(entries), {e: f"text {e}" for e in entries}, seed=None)
    return schema, record, ai_questions(schema=schema, record=record, candidates=candidates)


def test_the_prompt_numbers_the_answers_after_the_prompt_turns():
    schema, record, questions = _question()
    assert [(q.key, q.scale) for q in questions] == [("ranking", 3)]
    prompt = ai_prompt_fill(
        template="{conversation}\n{questions}",
        record=record,
        choices=[("billing/refund", "")],
        multiple=False,
        questions=questions,
    )
    assert prompt.startswith(
        "user: Question 0: where is my parcel?\nAnswer 1: text 11\nAnswer 2: text 12\nAnswer 3: text 13\n"
    )
    assert "Draft 0" not in prompt  # the record's own answer is shown once, as one of the numbered answers
    assert "- ranking: Best first? Answer: the numbers of all 3 answers, best first, each once, as a list." in prompt
    assert prompt.endswith('{"labels": ["billing/refund"], "ranking": [1, 2, 3]}')


@pytest.mark.parametrize("text, ranking", [
    ('{"labels": ["billing/refund"], "ranking": [2, 1, 3]}', [12, 11, 13]),
    ('{"labels": ["billing/refund"], "ranking": ["Answer 3", "Answer 1", "Answer 2"]}', [13, 11, 12]),
    ('{"labels": "billing/refund", "ranking": "3 > 2 > 1"}', [13, 12, 11]),
    ("Labels: billing/refund\nRanking: 2, 3", [12, 13, 11]),  # the one left out takes the last place
])
def test_the_reader_takes_the_usual_ways_of_writing_an_order(text, ranking):
    _, _, questions = _question()
    reading = ai_answer_read(text, paths=["billing/refund"], multiple=False, questions=questions)
    assert reading.fields == {"ranking": ranking}


@pytest.mark.parametrize("text, reason", [
    ('{"labels": ["billing/refund"]}', "no ranking in the answer"),
    ('{"labels": ["billing/refund"], "ranking": [2, 2, 1]}', "ranking names answer 2 twice"),
    ('{"labels": ["billing/refund"], "ranking": [4, 1, 2]}', "ranking names answer 4; there are 3"),
    ('{"labels": ["billing/refund"], "ranking": [1]}', "ranking leaves out answers 2, 3"),
    ('{"labels": ["billing/refund"], "ranking": "the first"}', "ranking 'the first' names no answer number"),
    ('{"labels": ["billing/refund"], "ranking": {"a": 1}}', 'ranking {"a": 1} is not a list of answer numbers'),
])
def test_the_reader_refuses_an_unusable_order_with_its_reason(text, reason):
    _, _, questions = _question()
    with pytest.raises(AnswerUnusable) as refused:
        ai_answer_read(text, paths=["billing/refund"], multiple=False, questions=questions)
    assert refused.value.reason == reason


@pytest.mark.django_db(transaction=True)
def test_a_run_ranks_through_the_queue_and_fails_an_unusable_order(
    annotation_project_factory, annotation_version_factory, ranking_schema, tiny_endpoint, users
):
    rows = [answer_row(q, a) for q in range(2) for a in range(3)]
    project = annotation_project_factory(
        version=annotation_version_factory(rows=rows), schema=ranking_schema, mode="ai_assists"
    )
    ai = ai_annotator_create(project=project, name="Ranker", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    answers = {
        0: '{"labels": ["billing/refund"], "ranking": [3, 1, 2]}',
        1: '{"labels": ["billing/refund"], "ranking": [1, 1, 2]}',
    }
    ai_replies_seed(
        ai,
        project,
        lambda index, record: answers[int(re.match(r"Question (\d+)", record.messages[0]["content"]).group(1))],
    )
    tasks = list(project.tasks.order_by("pk"))
    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=2, enqueue=False))

    assert (run.status, run.annotated, run.failed) == ("done", 1, 1)
    assert list(
        ModelCall.objects.filter(purpose__startswith=f"ai annotator {ai.pk}").values_list("cached", flat=True)
    ) == [True, True]
    first, second = (AnnotationTask.objects.get(pk=task.pk).candidates for task in tasks)
    done = Annotation.objects.get(annotator=ai.user)
    assert (done.task_id, done.ranking, done.annotator_kind) == (tasks[0].pk, [first[2], first[0], first[1]], "ai")
    failed = AIAnswer.objects.get(run=run, outcome="failed")
    assert (failed.task_id, failed.reason, failed.ranking) == (tasks[1].pk, "ranking names answer 1 twice", [])
    assert AIAnswer.objects.get(run=run, outcome="annotated").ranking == done.ranking
    assert Assignment.objects.get(task_id=tasks[1].pk).skip_reason == "AI answer unusable: ranking names answer 1 twice"
    assert second  # the failed item was a ranking item too
