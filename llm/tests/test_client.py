"""The client against Whetstone's real server on 127.0.0.1: results, cache, retries, timeouts, errors. No mocked
HTTP."""

import pytest

from llm.client import cache_key, chat_complete, chat_complete_many, chat_request_body, is_deterministic
from llm.errors import ModelCallError
from llm.models import CachedResponse, ModelCall

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "How do I reset my password?"}]


def test_completion_records_usage_latency_and_purpose(tiny_endpoint):
    result = chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=8, purpose="smoke")
    assert len(result.texts) == 1
    assert result.cached is False
    assert result.usage["total_tokens"] == result.usage["prompt_tokens"] + result.usage["completion_tokens"]
    assert result.latency_ms > 0
    call = ModelCall.objects.get()
    assert (call.endpoint_id, call.purpose, call.status, call.cached, call.attempts) == (
        tiny_endpoint.pk,
        "smoke",
        "ok",
        False,
        1,
    )
    assert (call.prompt_tokens, call.completion_tokens) == (
        result.usage["prompt_tokens"],
        result.usage["completion_tokens"],
    )


def test_a_repeated_deterministic_request_is_served_from_the_cache(tiny_endpoint):
    first = chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=8)
    again = chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=8)
    other = chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=9)
    assert again.cached is True
    assert again.texts == first.texts
    assert again.usage == first.usage
    assert other.cached is False
    assert CachedResponse.objects.count() == 2
    assert list(ModelCall.objects.order_by("id").values_list("cached", "attempts")) == [
        (False, 1),
        (True, 0),
        (False, 1),
    ]


def test_sampling_without_a_seed_is_never_cached(tiny_endpoint):
    chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=4, temperature=0.8)
    second = chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=4, temperature=0.8)
    seeded = [
        chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=4, temperature=0.8, seed=3) for _ in range(2)
    ]
    assert second.cached is False
    assert [result.cached for result in seeded] == [False, True]
    assert CachedResponse.objects.count() == 1


def test_cache_key_covers_base_url_model_every_parameter_and_messages():
    body = chat_request_body(model="m", messages=HELLO, max_tokens=8)
    key = cache_key(base_url="http://a/v1", body=body)
    assert key == cache_key(base_url="http://a/v1/", body=chat_request_body(model="m", messages=HELLO, max_tokens=8))
    variants = [
        cache_key(base_url="http://b/v1", body=body),
        cache_key(base_url="http://a/v1", body=chat_request_body(model="n", messages=HELLO, max_tokens=8)),
        cache_key(base_url="http://a/v1", body=chat_request_body(model="m", messages=HELLO, max_tokens=8, top_p=0.5)),
        cache_key(base_url="http://a/v1", body=chat_request_body(model="m", messages=HELLO, max_tokens=8, stop=["x"])),
        cache_key(base_url="http://a/v1", body=chat_request_body(model="m", messages=HELLO, max_tokens=8, n=2)),
        cache_key(
            base_url="http://a/v1",
            body=chat_request_body(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=8),
        ),
    ]
    assert len({key, *variants}) == 7
    assert is_deterministic(chat_request_body(model="m", messages=HELLO, temperature=0.0))
    assert is_deterministic(chat_request_body(model="m", messages=HELLO, temperature=0.7, seed=1))
    assert not is_deterministic(chat_request_body(model="m", messages=HELLO, temperature=0.7))


def test_many_keeps_order_and_bounded_concurrency_gives_the_same_answers(tiny_endpoint):
    requests = [{"messages": [{"role": "user", "content": f"Question {i}?"}], "max_tokens": 6} for i in range(6)]
    batch = chat_complete_many(endpoint=tiny_endpoint, requests=requests, purpose="batch")
    one_by_one = [chat_complete(endpoint=tiny_endpoint, **request) for request in requests]
    assert [result.texts for result in batch] == [result.texts for result in one_by_one]
    assert [result.cached for result in batch] == [False] * 6
    assert [result.cached for result in one_by_one] == [True] * 6
    assert ModelCall.objects.filter(purpose="batch", cached=False).count() == 6


def test_a_tiny_timeout_is_retried_then_fails_naming_the_endpoint(make_endpoint, tiny_base_model, model_server):
    from training.server.registry import base_model_id

    endpoint = make_endpoint(
        model=base_model_id(tiny_base_model), name="impatient", timeout_seconds=0.001, max_retries=2
    )
    with pytest.raises(ModelCallError) as caught:
        chat_complete(endpoint=endpoint, messages=HELLO, max_tokens=64)
    assert "'impatient'" in caught.value.message
    assert "timeout" in caught.value.message
    assert (caught.value.status, caught.value.retryable, caught.value.attempts) == (None, True, 3)
    call = ModelCall.objects.get()
    assert (call.status, call.attempts) == ("error", 3)
    assert CachedResponse.objects.count() == 0
    model_server.wait_idle()


def test_server_errors_are_retried(make_endpoint, workspace, tiny_model_dir, tmp_path, caplog):
    import shutil

    from training.server.registry import base_model_id
    from training.services.base_models import base_model_register

    broken_dir = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken_dir)
    broken = base_model_register(workspace=workspace, name="broken", path=str(broken_dir))
    for weights in broken_dir.glob("*.safetensors"):
        weights.write_bytes(b"not weights")
    endpoint = make_endpoint(model=base_model_id(broken), max_retries=3)
    with pytest.raises(ModelCallError) as caught:
        chat_complete(endpoint=endpoint, messages=HELLO)
    assert (caught.value.status, caught.value.attempts, caught.value.retryable) == (500, 4, True)
    assert caught.value.message.endswith(
        "failed after 4 attempts: the endpoint answered HTTP status 500 (Internal Server Error)"
    )
    # What the remote said goes to the operator's log, never into the message a user reads.
    assert "failed to load" not in caught.value.message
    assert "failed to load" in caplog.text


def test_client_errors_are_not_retried(make_endpoint, tiny_base_model):
    endpoint = make_endpoint(model=f"{tiny_base_model.workspace_id}/missing", name="typo", max_retries=3)
    with pytest.raises(ModelCallError) as caught:
        chat_complete(endpoint=endpoint, messages=HELLO)
    assert (caught.value.status, caught.value.attempts, caught.value.retryable) == (404, 1, False)
    assert caught.value.message == (
        f"model endpoint 'typo' ({endpoint.base_url}, model '{endpoint.model}') failed: the endpoint "
        f"answered HTTP status 404 (Not Found)"
    )


def test_a_wrong_key_is_a_401_without_retries(make_endpoint, tiny_base_model):
    from training.server.registry import base_model_id

    endpoint = make_endpoint(model=base_model_id(tiny_base_model), api_key="wrong")
    with pytest.raises(ModelCallError) as caught:
        chat_complete(endpoint=endpoint, messages=HELLO)
    assert (caught.value.status, caught.value.attempts) == (401, 1)


def test_many_reports_failures_after_caching_the_successes(tiny_endpoint):
    requests = [{"messages": HELLO, "max_tokens": 4}, {"messages": HELLO, "max_tokens": 5000}]
    with pytest.raises(ModelCallError) as caught:
        chat_complete_many(endpoint=tiny_endpoint, requests=requests)
    assert caught.value.message.startswith("1 of 2 requests failed; request 1: ")
    assert caught.value.message.endswith("failed: the endpoint answered HTTP status 400 (Bad Request)")
    assert chat_complete(endpoint=tiny_endpoint, messages=HELLO, max_tokens=4).cached is True


def test_rate_limit_spaces_request_starts(make_endpoint, tiny_base_model):
    import time

    from training.server.registry import base_model_id

    endpoint = make_endpoint(model=base_model_id(tiny_base_model), requests_per_minute=300)  # one start every 0.2 s
    started = time.monotonic()
    chat_complete_many(endpoint=endpoint, requests=[{"messages": HELLO, "max_tokens": 1, "seed": i, "temperature": 0.5}
                                                   for i in range(4)])
    assert time.monotonic() - started >= 0.6


def test_a_cached_batch_costs_a_fixed_number_of_queries(tiny_endpoint, django_assert_num_queries):
    requests = [{"messages": [{"role": "user", "content": f"Q{i}"}], "max_tokens": 2} for i in range(5)]
    chat_complete_many(endpoint=tiny_endpoint, requests=requests)
    with django_assert_num_queries(5):  # look up; then BEGIN, count the hits, log the calls, COMMIT
        results = chat_complete_many(endpoint=tiny_endpoint, requests=requests)
    assert [result.cached for result in results] == [True] * 5
    assert list(CachedResponse.objects.values_list("hits", flat=True)) == [1] * 5
