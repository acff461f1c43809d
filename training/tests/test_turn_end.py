"""Replies stop where the turn ends, whichever token ends it: a model whose tokenizer's eos (<|endoftext|>) is not the
token that ends its turns (<|im_end|>), and whose generation config names only the eos, answers "Hello" and stops
through the model server, probes and study answers (training.services.generation)."""

import json
from types import SimpleNamespace

import pytest
from django.test import Client

from training.runner.templates import stop_token_ids

pytestmark = pytest.mark.slow


@pytest.fixture
def turn_end_base_model(workspace, turn_end_model_dir):
    from training.server import engine
    from training.services.base_models import base_model_register

    engine.cache_clear()
    return base_model_register(workspace=workspace, name="turn-end", path=str(turn_end_model_dir))


def test_stop_tokens_are_every_eos_id_and_the_templates_turn_end(real_model_dirs):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real_model_dirs("qwen2.5-7b-instruct"))
    assert stop_token_ids(tokenizer, SimpleNamespace(eos_token_id=[151645, 151643])) == [151643, 151645]
    assert stop_token_ids(tokenizer, SimpleNamespace(eos_token_id=151643)) == [151643, 151645]
    assert stop_token_ids(tokenizer, SimpleNamespace(eos_token_id=None)) == [151645]
    mistral = AutoTokenizer.from_pretrained(real_model_dirs("mistral-7b-instruct-v0.3"))
    assert stop_token_ids(mistral, SimpleNamespace(eos_token_id=2)) == [2]


def test_registration_shows_the_turn_end_and_warns_that_it_is_not_the_eos(turn_end_base_model):
    facts = turn_end_base_model.chat_template_facts
    assert (facts["turn_end"], facts["eos"]) == ("<|im_end|>", "<|endoftext|>")
    assert turn_end_base_model.warnings == [
        "A turn ends with <|im_end|>, not with the tokenizer's end-of-sequence token <|endoftext|>: generation stops at "
        "either, in the model server, probes, studies, judges and AI annotators."
    ]


def test_the_model_server_stops_at_the_turn_end(turn_end_base_model, users):
    from accounts.services import api_token_for
    from training.server.registry import base_model_id

    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(user=users['ml_engineer'])}")
    body = {
        "model": base_model_id(turn_end_base_model),
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 8,
        "temperature": 0,
    }
    response = client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    reply = response.json()
    # "Hello" then <|im_end|>: two tokens, stopped; without the turn's end it would run to 8 ("HelloHelloHelloHello").
    assert (reply["choices"][0]["message"]["content"], reply["choices"][0]["finish_reason"]) == ("Hello", "stop")
    assert reply["usage"]["completion_tokens"] == 2

    streamed = client.post(
        "/v1/chat/completions", json.dumps({**body, "stream": True}), content_type="application/json"
    )
    events = [
        json.loads(line.removeprefix("data: "))
        for line in b"".join(streamed.streaming_content).decode().split("\n\n")
        if line.startswith("data: {")
    ]
    assert "".join(event["choices"][0]["delta"].get("content", "") for event in events) == "Hello"
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_probes_and_study_answers_stop_at_the_turn_end(workspace, turn_end_base_model, sft_version):
    from training.services.generation import generate_replies
    from training.services.probes import training_run_probes_answer
    from training.services.runs import training_run_create

    # Study answers of a local arm are generate_replies' (evaluation.services.generation).
    assert generate_replies(
        base_model=turn_end_base_model,
        artifact=None,
        max_new_tokens=8,
        conversations=[[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "你好"}]],
    ) == ["Hello", "Hello"]
    run = training_run_create(
        workspace=workspace,
        name="probed",
        base_model=turn_end_base_model,
        dataset_version=sft_version,
        probe_prompts=["Where is my package?"],
    )
    run = training_run_probes_answer(run=run, stage="base")
    assert (run.probes[0]["base"], run.probe_error) == ("Hello", "")
