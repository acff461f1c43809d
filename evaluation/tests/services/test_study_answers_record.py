"""study_answers_record: the one way answers enter a study, for the generation job and for the tests' fixed answers."""

import pytest
from django.db import IntegrityError

from common.errors import ApplicationError
from evaluation.models import Answer, Study
from evaluation.services import study_answers_record


def test_answers_are_stored_with_the_progress_and_a_fresh_heartbeat(make_study):
    study = make_study()
    arm = study.arms.get(is_baseline=True)
    prompts = list(study.prompts.order_by("order"))
    before = Study.objects.get(pk=study.pk).updated_at
    stored = study_answers_record(
        study=study, arm=arm, answers=[(p, f"reply\x00 {p.order}") for p in prompts], progress=0.5
    )
    assert [(a.prompt_id, a.arm_id, a.text) for a in stored] == [(p.pk, arm.pk, f"reply {p.order}") for p in prompts]
    assert Answer.objects.filter(arm=arm).count() == 4
    after = Study.objects.get(pk=study.pk)
    assert (after.status, after.progress) == ("generating", 0.5)
    assert after.updated_at > before


def test_an_arm_answers_a_prompt_once(make_study):
    study = make_study()
    arm = study.arms.get(is_baseline=True)
    prompt = study.prompts.order_by("order").first()
    study_answers_record(study=study, arm=arm, answers=[(prompt, "first")], progress=0.1)
    with pytest.raises(IntegrityError, match="answer_unique_per_arm"):
        study_answers_record(study=study, arm=arm, answers=[(prompt, "second")], progress=0.2)
    assert list(Answer.objects.filter(arm=arm).values_list("text", flat=True)) == ["first"]


def test_answers_are_refused_for_another_studys_arm_or_prompt_and_once_the_study_is_open(make_study, open_study):
    study = make_study(name="Second")
    arm, prompt = study.arms.get(is_baseline=True), study.prompts.order_by("order").first()
    foreign_arm, foreign_prompt = open_study.arms.get(is_baseline=True), open_study.prompts.order_by("order").first()
    cases = [
        (
            dict(study=study, arm=foreign_arm, answers=[(prompt, "x")]),
            "arm",
            "arm 'baseline-arm' belongs to another study",
        ),
        (
            dict(study=study, arm=arm, answers=[(prompt, "x"), (foreign_prompt, "y")]),
            "answers[1]",
            "the prompt is not one of the study's prompts to answer",
        ),
        (
            dict(study=open_study, arm=foreign_arm, answers=[(foreign_prompt, "x")]),
            "study",
            "the study is open; answers are recorded only while it is generating",
        ),
    ]
    answers = Answer.objects.count()
    for kwargs, where, message in cases:
        with pytest.raises(ApplicationError) as error:
            study_answers_record(progress=0.5, **kwargs)
        assert (error.value.where, error.value.message) == (where, message)
    assert Answer.objects.count() == answers
    assert Study.objects.get(pk=study.pk).progress == 0.0
