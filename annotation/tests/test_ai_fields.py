"""AI annotators answer the schema's other questions: which questions a record gets, the prompt, and how answers are
read.

Pure functions on unsaved rows; the runs against the model server are in test_ai_fields_runs.
"""

import pytest

from annotation.models import LabelSchema
from annotation.services.ai_annotators import ai_default_prompt, prompt_version
from annotation.services.ai_answers import (
    DEFAULT_PROMPT,
    DEFAULT_PROMPT_WITH_QUESTIONS,
    AnswerUnusable,
    ai_answer_parse,
    ai_answer_read,
    ai_prompt_fill,
    ai_questions,
)
from datahub.models import Record

PATHS = ["account", "account/delete", "account/login", "billing", "billing/invoice", "billing/refund"]
LEAVES = {"account/delete", "account/login", "billing/invoice", "billing/refund"}
CHOICES = [("account/login", ""), ("billing/refund", "Money back")]


def schema(**fields) -> LabelSchema:
    return LabelSchema(name="Topic", **fields)


def pair_record() -> Record:
    return Record(kind=Record.Kind.PREFERENCE, messages=[{"role": "user", "content": "How do I get a {refund}?"}],
                  chosen={"role": "assistant", "content": "Open Billing, then Refunds."},
                  rejected={"role": "assistant", "content": "I cannot help."})


def sft_record() -> Record:
    return Record(
        kind=Record.Kind.SFT, messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    )


FULL = schema(rating_scale=5, rating_question="How helpful is answer A?", free_text_question="What would improve it?",
              pairwise_question="Which answer is better?")
ALL_THREE = ai_questions(schema=FULL, record=pair_record())


def read(text, questions=ALL_THREE, multiple=False):
    return ai_answer_read(text, paths=PATHS, multiple=multiple, leaf_paths=LEAVES, questions=questions)


def test_questions_follow_the_schema_and_the_preference_needs_two_answers():
    assert [q.key for q in ALL_THREE] == ["rating", "free_text", "preference"]
    assert [q.key for q in ai_questions(schema=FULL, record=sft_record())] == ["rating", "free_text"]
    assert ai_questions(schema=schema(), record=pair_record()) == []
    assert [(q.key, q.text, q.scale) for q in ai_questions(schema=schema(rating_scale=3), record=sft_record())] == [
        ("rating", "How good is the conversation?", 3)]
    assert ai_default_prompt(schema()) == DEFAULT_PROMPT
    assert ai_default_prompt(schema(pairwise_question="Which?")) == DEFAULT_PROMPT_WITH_QUESTIONS


def test_the_labels_only_prompt_and_its_version_do_not_change():
    # The hash of the default template before questions existed: annotators made with it keep their prompt version.
    assert prompt_version(DEFAULT_PROMPT) == "e11dcc412d3b"
    plain = ai_prompt_fill(template=DEFAULT_PROMPT, record=pair_record(), choices=CHOICES, multiple=False)
    assert plain.endswith(
        "[Conversation]\nuser: How do I get a {refund}?\nassistant: Open Billing, then Refunds.\n\n"
        "Answer with the label path only, exactly as written in the list (for example: account/login). Do not explain."
    )
    # {questions} with nothing else to ask is the labels-only instruction.
    assert ai_prompt_fill(
        template="{labels}|{conversation}|{questions}", record=sft_record(), choices=CHOICES, multiple=False
    ) == (
        "- account/login\n- billing/refund: Money back|user: Hi\nassistant: Hello|Answer with the label path only, exactly as "
        "written in the list (for example: account/login). Do not explain."
    )


def test_the_prompt_with_questions_shows_answers_a_and_b_and_the_json_format():
    text = ai_prompt_fill(template=DEFAULT_PROMPT_WITH_QUESTIONS, record=pair_record(), choices=CHOICES, multiple=True,
                          questions=ALL_THREE)
    assert (
        text
        == """You label conversations. Read the conversation, pick the label that fits it best and answer the questions about it.

[Labels]
- account/login
- billing/refund: Money back

[Conversation]
user: How do I get a {refund}?
Answer A: Open Billing, then Refunds.
Answer B: I cannot help.

[Questions]
- labels: the labels that fit, one or more, each exactly as written in the list
- rating: How helpful is answer A? Answer: a whole number from 1 (lowest) to 5 (highest).
- free_text: What would improve it? Answer: a short text ("" when there is nothing to say).
- preference: Which answer is better? Answer: "a" if Answer A is better, "b" if Answer B is better, "tie" if neither is better.

Answer with one JSON object and nothing else, for example:
{"labels": ["account/login", "billing/refund"], "rating": 3, "free_text": "...", "preference": "a"}"""
    )
    # Without the preference question a preference record is shown as a conversation: the chosen answer ends it.
    rating_only = ai_prompt_fill(
        template="{conversation}\n{questions}",
        record=pair_record(),
        choices=CHOICES,
        multiple=False,
        questions=ai_questions(schema=schema(rating_scale=2), record=pair_record()),
    )
    assert rating_only.startswith(
        "user: How do I get a {refund}?\nassistant: Open Billing, then Refunds.\n[Questions]\n"
        "- labels: the one label that fits best, exactly as written in the list\n"
    )
    assert rating_only.endswith('{"labels": ["account/login"], "rating": 1}')


@pytest.mark.parametrize(
    ("text", "labels", "fields"),
    [
        (
            '{"labels": ["billing/refund"], "rating": 4, "free_text": "Say how long it takes.", "preference": "a"}',
            ["billing/refund"],
            {"rating": 4, "free_text": "Say how long it takes.", "preference": "a"},
        ),
        (
            'Here is my answer:\n```json\n{"label": "refund", "Rating": "4/5", "free text": "", "preference": "Answer B"}\n```\nThanks!',
            ["billing/refund"],
            {"rating": 4, "free_text": "", "preference": "b"},
        ),
        (
            '{"labels": "Billing > Refund", "rating": 5.0, "preference": "="}',
            ["billing/refund"],
            {"rating": 5, "free_text": "", "preference": "tie"},
        ),
        (
            '{"labels": ["account/login"], "rating": 1, "free_text": null, "preference": "TIE", "confidence": 0.9}',
            ["account/login"],
            {"rating": 1, "free_text": "", "preference": "tie"},
        ),
        (
            "Labels: billing/refund\nRating: 2.\nPreference: A is better\nFree text: Too short\r\nand vague.",
            ["billing/refund"],
            {"rating": 2, "free_text": "Too short\nand vague.", "preference": "a"},
        ),
        (
            "**Label**: account/login\n- **Rating**: 3 out of 5\n- **Preference**: \"b\"",
            ["account/login"],
            {"rating": 3, "free_text": "", "preference": "b"},
        ),
        (
            "account/delete\nrating = 5\npreference: answer a",
            ["account/delete"],
            {"rating": 5, "free_text": "", "preference": "a"},
        ),
        (
            '{"labels": ["billing/refund"], "rating": 2, "preference": "b"}\nOr, if unsure: {"labels": ["account/login"], "rating": 3}',
            ["billing/refund"],
            {"rating": 2, "free_text": "", "preference": "b"},
        ),
        (
            '"labels": ["billing/refund"],\n"rating": 4,\n"preference": "a",',
            ["billing/refund"],
            {"rating": 4, "free_text": "", "preference": "a"},
        ),
        (
            '{"labels": ["billing/refund"], "rating": 4, "free_text": "  Caf\u0065\u0301 au lait  ", "preference": "a"}',
            ["billing/refund"],
            {"rating": 4, "free_text": "Caf\u00e9 au lait", "preference": "a"},
        ),
    ],
)
def test_read_realistic_answers_with_questions(text, labels, fields):
    reading = read(text)
    assert (reading.label_paths, reading.fields) == (labels, fields)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty answer"),
        ('{"labels": ["billing/refund"], "rating": 7, "preference": "a"}', "rating 7 is outside 1..5"),
        ('{"labels": ["billing/refund"], "rating": 0, "preference": "a"}', "rating 0 is outside 1..5"),
        ('{"labels": ["billing/refund"], "rating": 3.5, "preference": "a"}', "rating 3.5 is not a whole number"),
        ('{"labels": ["billing/refund"], "rating": "good", "preference": "a"}', "rating 'good' is not a number"),
        ('{"labels": ["billing/refund"], "rating": true, "preference": "a"}', "rating true is not a number"),
        ('{"labels": ["billing/refund"], "rating": [4], "preference": "a"}', "rating [4] is not a number"),
        (
            '{"labels": ["billing/refund"], "rating": "8/10", "preference": "a"}',
            "rating '8/10' is not on the scale 1..5",
        ),
        ('{"labels": ["billing/refund"], "preference": "a"}', "no rating in the answer"),
        ('{"labels": ["billing/refund"], "rating": 4, "preference": "c"}', "preference 'c' is not a, b or tie"),
        (
            '{"labels": ["billing/refund"], "rating": 4, "preference": "neither"}',
            "preference 'neither' is not a, b or tie",
        ),
        ('{"labels": ["billing/refund"], "rating": 4, "preference": 1}', "preference '1' is not a, b or tie"),
        ('{"labels": ["billing/refund"], "rating": 4}', "no preference in the answer"),
        ('{"labels": ["billing/refund"], "rating": 4, "preference": "a", "free_text": 12}', "free text 12 is not text"),
        (
            '{"labels": ["billing/refund"], "rating": 4, "preference": "a", "free_text": "' + "x" * 5001 + '"}',
            "free text is longer than 5000 characters",
        ),
        ('{"rating": 4, "preference": "a"}', "no label in the answer"),
        ('{"labels": [], "rating": 4, "preference": "a"}', "no label in the answer"),
        ('{"labels": {"billing": 1}, "rating": 4, "preference": "a"}', "labels '{\"billing\": 1}' are not label paths"),
        ('{"labels": ["shipping"], "rating": 4, "preference": "a"}', "unknown label 'shipping'"),
        (
            '{"labels": ["billing"], "rating": 4, "preference": "a"}',
            "'billing' has sub-labels; a more specific label is needed",
        ),
        (
            '{"labels": ["billing/refund", "account/login"], "rating": 4, "preference": "a"}',
            "one label expected, the answer names 2: billing/refund, account/login",
        ),
        # A bare label answers the labels only; the asked fields are then missing.
        ("billing/refund", "no rating in the answer"),
    ],
)
def test_read_refuses_an_unusable_field_with_a_reason_naming_it(text, reason):
    with pytest.raises(AnswerUnusable) as refused:
        read(text)
    assert refused.value.reason == reason


def test_free_text_may_be_left_out_and_fields_that_were_not_asked_are_ignored():
    rating_only = ai_questions(schema=schema(rating_scale=3), record=pair_record())
    reading = read(
        '{"labels": ["billing/refund"], "rating": 2, "preference": "zzz", "free_text": 99}', questions=rating_only
    )
    assert (reading.label_paths, reading.fields) == (["billing/refund"], {"rating": 2})
    text_only = ai_questions(schema=schema(free_text_question="Anything else?"), record=sft_record())
    assert read("billing/refund", questions=text_only).fields == {"free_text": ""}
    several = read(
        '{"labels": ["billing/refund", "account/login"], "free_text": "ok"}', questions=text_only, multiple=True
    )
    assert (several.label_paths, several.fields) == (["billing/refund", "account/login"], {"free_text": "ok"})


@pytest.mark.parametrize(
    "text", ["billing/refund", "The topic is billing/refund.", '```json\n{"labels": ["refund"]}\n```', "shipping"]
)
def test_without_questions_the_answer_is_read_as_before(text):
    try:
        expected = ai_answer_parse(text, paths=PATHS, multiple=False, leaf_paths=LEAVES)
    except AnswerUnusable as refused:
        with pytest.raises(AnswerUnusable, match=refused.reason):
            read(text, questions=[])
    else:
        reading = read(text, questions=[])
        assert (reading.label_paths, reading.fields) == (expected, {})
