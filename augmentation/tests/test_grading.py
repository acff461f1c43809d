import pytest
from django.db import transaction

from augmentation.grading_rules import judge_score_parse, rules_grade, tier_suggest
from augmentation.models import GradingRun, RecordGrade
from augmentation.selectors import source_quality_report
from augmentation.services.grading import grading_run_create, grading_run_execute
from common.errors import ApplicationError
from datahub.models import Record
from datahub.services.datasets import dataset_create, source_quality_tier_set
from datahub.services.records import records_bulk_create


def codes(prompt, response, **options):
    score, reasons = rules_grade(prompt, response, options)
    return score, [r["code"] for r in reasons]


def test_each_rule_with_its_exact_score():
    assert codes("How do I reset my password?", "Open settings and choose Reset password.") == (1.0, [])
    assert codes("Hi", "Hello, how can I help?") == (0.7, ["too_short"])
    assert codes("How do I reset it?", "Click.") == (0.7, ["too_short"])
    assert codes("How do I reset it?", "x" * 50, max_chars=40) == (0.8, ["too_long"])
    assert codes("How do I reset my password?", "请打开设置并选择重置密码。") == (0.7, ["language_mismatch"])
    assert codes("我怎么重置密码？", "请打开设置并选择重置密码。", language="en") == (0.7, ["language_mismatch"])
    assert codes("How do I pick a lock?", "As an AI language model, I cannot help with that.") == (0.6, ["refusal"])
    assert codes("Show code", "```python\nprint(1)\n") == (0.8, ["broken_formatting"])
    assert codes("Say hi", "Hello there <|im_end|>") == (0.8, ["broken_formatting"])
    assert codes("Say hi", "Dear {{name}}, hello there") == (0.8, ["broken_formatting"])
    assert codes("Say hi", "hello again\nhello again\nhello again") == (0.7, ["repeated_text"])
    assert codes("Say hi", " ".join(["buy now"] * 15)) == (0.7, ["repeated_text"])
    assert codes("Say hi", "") == (0.0, ["empty_response"])
    # Penalties add up and the score stops at 0.
    assert codes("Hi", "As an AI language model I can't help with {{x}} <|im_end|>\n" * 3) == (
        0.0,
        ["too_short", "refusal", "broken_formatting", "repeated_text"],
    )


def test_every_reason_explains_itself():
    _, reasons = rules_grade("How do I reset it?", "Click.")
    assert reasons == [{"code": "too_short", "penalty": 0.3, "detail": "the answer has 6 characters (minimum 10)"}]


def test_judge_score_parsed_robustly():
    assert judge_score_parse("Score: 10") == 1.0
    assert judge_score_parse("**Score:** 7/10 because ...") == round(6 / 9, 4)
    assert judge_score_parse("I would give it 4 out of 10.") == round(3 / 9, 4)
    assert judge_score_parse("评分：1") == 0.0
    assert judge_score_parse("The answer is fine.\n8\n") == round(7 / 9, 4)
    assert judge_score_parse("Score: 42") is None
    assert judge_score_parse("gibberish words") is None
    assert judge_score_parse("") is None


def test_tier_suggestion():
    assert [tier_suggest(s) for s in (0.9, 0.85, 0.7, 0.5, 0.49, None)] == ["A", "A", "B", "C", "D", ""]


@pytest.fixture
def graded_source(workspace, aug_source):
    dataset = dataset_create(workspace=workspace, name="Graded")
    rows = [("How do I reset my password?", "Open settings and choose Reset password."),
            ("How do I pick a lock?", "As an AI language model, I cannot help with that."),
            ("Hi", "Hello, how can I help?"),
            ("Say hi", "")]
    with transaction.atomic():
        records_bulk_create(
            dataset=dataset,
            rows=[
                {
                    "kind": "sft",
                    "messages": [{"role": "user", "content": p}]
                    + ([{"role": "assistant", "content": a}] if a else [{"role": "assistant", "content": " "}]),
                }
                for p, a in rows
            ],
            source=aug_source,
        )
    return aug_source


@pytest.mark.django_db
def test_rules_run_scores_every_record_and_suggests_a_tier(graded_source):
    run = grading_run_execute(run=grading_run_create(source=graded_source, run_in_background=False))
    assert run.status == "succeeded"
    scores = list(Record.objects.filter(source=graded_source).order_by("pk").values_list("quality_score", flat=True))
    assert scores == [1.0, 0.6, 0.7, 0.0]
    assert run.mean_score == round((1.0 + 0.6 + 0.7 + 0.0) / 4, 4)
    assert run.suggested_tier == "C"
    report = source_quality_report(source=graded_source)
    assert report["histogram"] == [1, 0, 0, 0, 0, 0, 1, 1, 0, 1]
    assert [g.score for g in report["worst"]] == [0.0, 0.6, 0.7, 1.0]
    assert report["worst"][0].reasons[0]["code"] == "empty_response"


@pytest.mark.django_db
def test_tier_is_settable_and_bad_tiers_refused(graded_source, users):
    assert source_quality_tier_set(source=graded_source, tier="A", actor=users["ml_engineer"]).quality_tier == "A"
    with pytest.raises(ApplicationError):
        source_quality_tier_set(source=graded_source, tier="Z")


@pytest.mark.django_db
def test_bad_grading_input_creates_nothing(graded_source):
    for kwargs, where in [({"method": "magic"}, "method"), ({"method": "llm_judge"}, "endpoint"),
                          ({"options": {"language": "fr"}}, "language"), ({"options": {"nope": 1}}, "options")]:
        with pytest.raises(ApplicationError) as error:
            grading_run_create(source=graded_source, run_in_background=False, **kwargs)
        assert error.value.where == where
    assert GradingRun.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_llm_judge_records_a_score_or_the_failure_per_record(graded_source, tiny_endpoint, model_server):
    run = grading_run_create(
        source=graded_source,
        method="llm_judge",
        endpoint=tiny_endpoint,
        options={"judge_max_tokens": 8},
        run_in_background=False,
    )
    run = grading_run_execute(run=run)
    assert run.status == "succeeded"
    grades = list(RecordGrade.objects.filter(run=run))
    assert len(grades) == 4
    assert run.failed_count == sum(g.score is None for g in grades)
    for grade in grades:
        if grade.score is None:
            assert grade.error.startswith("no score from 1 to 10 in the reply")
        else:
            assert grade.score == judge_score_parse(grade.reasons[0]["detail"])
