"""Prompt sets from an uploaded JSONL file."""

import json

import pytest

from common.errors import ApplicationError
from evaluation.models import Study
from evaluation.services import study_create
from evaluation.services.prompt_upload import prompts_parse_jsonl

USER = {"role": "user", "content": "Where is my parcel?"}
ANSWER = {"role": "assistant", "content": "On its way."}


def _jsonl(*rows) -> bytes:
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()


def test_lines_become_prompts_and_a_final_answer_is_dropped():
    data = (
        _jsonl({"messages": [USER, ANSWER]}, [{"role": "system", "content": "Be brief."}, USER], {"messages": [USER]})
        + b"\n\n"
    )
    assert prompts_parse_jsonl(data=data) == [[USER], [{"role": "system", "content": "Be brief."}, USER], [USER]]


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        (b'{"messages": [', "prompts line 1", "not JSON: Expecting value"),
        (
            _jsonl({"messages": [USER]}, {"text": "hi"}),
            "prompts line 2",
            'expected {"messages": [...]} or a list of messages',
        ),
        (
            _jsonl([{"role": "robot", "content": "x"}]),
            "prompts line 1",
            "message 0 needs a role (assistant, system, tool, user) and text content",
        ),
        (_jsonl([ANSWER]), "prompts line 1", "the conversation has nothing for a model to answer"),
        (b"\n  \n", "prompts", "the file holds no prompts"),
        (b"\xff\xfe", "prompts", "the file is not UTF-8 text (byte 0)"),
    ],
)
def test_bad_uploads_name_the_line(data, where, message):
    with pytest.raises(ApplicationError) as error:
        prompts_parse_jsonl(data=data)
    assert (error.value.where, error.value.message) == (where, message)


def test_a_study_over_uploaded_prompts(
    workspace, tiny_base_model, candidate_base_model, django_capture_on_commit_callbacks
):
    prompts = prompts_parse_jsonl(
        data=_jsonl(*[{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(5)])
    )
    arms = [{"name": "base", "base_model": tiny_base_model, "is_baseline": True},
            {"name": "cand", "base_model": candidate_base_model, "is_baseline": False}]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        study = study_create(workspace=workspace, name="Uploaded", arms=arms, prompts=prompts, upload_name="faq.jsonl",
                             max_prompts=3, seed=1)
    study = Study.objects.get(pk=study.pk)
    assert (study.dataset_version, study.upload_name, study.split, len(callbacks)) == (None, "faq.jsonl", "", 1)
    texts = [p.messages[0]["content"] for p in study.prompts.order_by("order")]
    assert len(texts) == 3 and texts == sorted(texts)  # a seeded sample, in file order
    assert all(p.record_id is None for p in study.prompts.all())


def test_prompts_come_from_a_version_or_an_upload_not_both(
    workspace, eval_version, tiny_base_model, candidate_base_model
):
    arms = [{"name": "base", "base_model": tiny_base_model, "is_baseline": True},
            {"name": "cand", "base_model": candidate_base_model, "is_baseline": False}]
    for source in ({}, {"dataset_version": eval_version, "prompts": [[USER]]}):
        with pytest.raises(ApplicationError) as error:
            study_create(workspace=workspace, name="Either", arms=arms, **source)
        assert (
            error.value.message == "give the prompts either as a dataset version or as an upload, not both or neither"
        )
    assert Study.objects.count() == 0
