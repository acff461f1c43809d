"""The server's dynamic batching with the tiny model: concurrent requests decode together and each gets what it would
have got alone (greedy tokens, its own stop strings, max_tokens and seeded samples), plainly and streamed."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from accounts.services import api_token_for
from training.server import engine
from training.server.registry import base_model_id
from training.tiny_model import BUILTIN_TEXTS

QUESTIONS = [BUILTIN_TEXTS[i % len(BUILTIN_TEXTS)] + f" ({i})" for i in range(6)]


@pytest.fixture
def batching_model(monkeypatch, tiny_model_dir):
    """The tiny model loaded with batching on and a window wide enough that requests sent together meet."""
    monkeypatch.setenv("WHETSTONE_SERVER_BATCH_WINDOW_MS", "50")
    engine.cache_clear()
    yield engine.model_get(base_dir=tiny_model_dir, adapter_dir=None)
    engine.cache_clear()


def _ids(loaded, question: str) -> list[int]:
    return engine.prompt_ids(loaded, [{"role": "user", "content": question}])


def _together(calls) -> list:
    """Run the calls at once, each on its own thread, released by one barrier so they reach the batcher together."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_greedy_replies_batched_are_the_tokens_transformers_generate_gives_alone(batching_model):
    settings = {"temperature": 0.0, "top_p": 1.0, "seed": None, "stop": []}
    lengths = [24, 5, 24, 12, 24, 3]
    alone = [engine._generate_alone(batching_model, ids=_ids(batching_model, question), max_tokens=length, **settings)
             for question, length in zip(QUESTIONS, lengths, strict=True)]
    batching_model.batcher.batch_sizes.clear()
    batched = _together([
        (lambda q=question, n=length: engine.generate_choices(batching_model, ids=_ids(batching_model, q),
                                                               max_tokens=n, **settings)[0])
        for question, length in zip(QUESTIONS, lengths, strict=True)
    ])
    assert batched == alone
    assert [reply.completion_tokens for reply in batched[1::2]] == [5, 12, 3]
    assert [reply.finish_reason for reply in batched[1::2]] == ["length"] * 3
    assert max(batching_model.batcher.batch_sizes) == 6  # all six decoded in one forward pass at their first step


def test_each_row_keeps_its_stop_strings_and_seeded_samples(batching_model):
    ids = _ids(batching_model, QUESTIONS[0])
    greedy = {"temperature": 0.0, "top_p": 1.0, "seed": None}
    full = engine.generate_choices(batching_model, ids=ids, max_tokens=16, stop=[], **greedy)[0].text
    stop = full[3:5]
    sampled = {"temperature": 1.0, "top_p": 0.9, "seed": 11, "stop": []}
    sampled_alone = engine.generate_choices(batching_model, ids=ids, max_tokens=10, n=2, **sampled)
    cut, sampled_batched, plain = _together([
        lambda: engine.generate_choices(batching_model, ids=ids, max_tokens=16, stop=[stop], **greedy)[0],
        lambda: engine.generate_choices(batching_model, ids=ids, max_tokens=10, n=2, **sampled),
        lambda: engine.generate_choices(batching_model, ids=_ids(batching_model, QUESTIONS[1]), max_tokens=16,
                                        stop=[], **greedy)[0],
    ])
    assert cut.text == full[:full.find(stop)]
    assert cut.finish_reason == "stop"
    assert sampled_batched == sampled_alone
    assert sampled_batched[0].text != sampled_batched[1].text  # choice 1 is seeded with 12, not 11
    assert plain.completion_tokens == 16


def test_a_request_arriving_mid_batch_joins_it_and_still_gets_its_own_tokens(batching_model):
    settings = {"temperature": 0.0, "top_p": 1.0, "seed": None, "stop": []}
    long_ids, short_ids = _ids(batching_model, QUESTIONS[2] * 3), _ids(batching_model, QUESTIONS[3])
    alone = engine.generate_choices(batching_model, ids=short_ids, max_tokens=8, **settings)[0]
    from training.server.batching import GenerationRequest

    first = batching_model.batcher.submit(GenerationRequest(ids=long_ids, max_tokens=200, **settings))
    while len(first.tokens) < 5:  # the long request is decoding
        threading.Event().wait(0.005)
    batching_model.batcher.batch_sizes.clear()
    joined = engine.generate_choices(batching_model, ids=short_ids, max_tokens=8, **settings)[0]
    assert joined == alone
    assert 2 in batching_model.batcher.batch_sizes
    assert first.reply.result().completion_tokens == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_streams_through_the_server_join_to_their_plain_replies(model_server, model_server_user,
                                                                           tiny_base_model, batching_model):
    headers = {"Authorization": f"Bearer {api_token_for(user=model_server_user)}"}
    url = f"{model_server.base_url}/chat/completions"
    body = {"model": base_model_id(tiny_base_model), "max_tokens": 20, "temperature": 0}

    def ask(question: str, stream: bool) -> str:
        payload = {**body, "messages": [{"role": "user", "content": question}], "stream": stream}
        with httpx.Client(timeout=60) as http:
            if not stream:
                return http.post(url, headers=headers, json=payload).json()["choices"][0]["message"]["content"]
            text = ""
            with http.stream("POST", url, headers=headers, json=payload) as response:
                for line in response.iter_lines():
                    if line.startswith("data: {"):
                        import json

                        choices = json.loads(line[6:])["choices"]
                        text += choices[0]["delta"].get("content") or "" if choices else ""
            return text

    plain = [ask(question, False) for question in QUESTIONS[:4]]
    streamed = _together([lambda q=question: ask(q, True) for question in QUESTIONS[:4]])
    model_server.wait_idle()
    assert streamed == plain
    assert all(plain)


@pytest.mark.parametrize(("option", "message"), [
    (["--max-batch", "0"], "--max-batch: must be at least 1; got 0"),
    (["--batch-window-ms", "1500"], "--batch-window-ms: must be between 0 and 1000; got 1500"),
])
def test_serve_models_refuses_batching_options_out_of_range(option, message):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as caught:
        call_command("serve_models", *option)
    assert str(caught.value) == message
