"""The one way Whetstone asks a model something: OpenAI chat completions against a configured ModelEndpoint.

    result = chat_complete(endpoint=endpoint, messages=[{"role": "user", "content": "Hi"}], purpose="judge study 4")
    result.texts[0], result.usage, result.latency_ms, result.cached

- Retries: 429, 5xx, timeouts and connection failures are retried up to endpoint.max_retries times, waiting
  endpoint.backoff_seconds, then twice that, and so on (a numeric Retry-After header is honoured, capped at 30 s).
  Any other 4xx fails at once: sending the same bad request again cannot help.
- Cache: a request is cached only when it is deterministic, i.e. temperature == 0 or a seed is given. The key is the
  SHA-256 of the endpoint's base URL plus the whole request body (model, every parameter, messages), so any change
  to any of them is a new request. Re-running a job therefore does not pay twice.
- Every call, cache hits included, writes one ModelCall row (tokens, latency, attempts, status).
- Bounded concurrency: at most endpoint.concurrency requests of one endpoint are in flight in this process, and
  endpoint.requests_per_minute (when not 0) spaces their starts.
- The database is only touched in the calling thread; worker threads of chat_complete_many only speak HTTP, so the
  client works inside a test transaction and never leaks connections from threads.
- Every request goes through llm.outbound: the operator's outbound policy is checked when the connection is made
  (a refused address is not retried), redirects are not followed, and errors say what failed in our words, never
  what the remote answered (that goes to the server log). The key's environment variable is re-checked before use.
"""

import hashlib
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from django.db import transaction
from django.db.models import F

from common.errors import ApplicationError
from llm.errors import ModelCallError
from llm.keys import endpoint_api_key
from llm.models import CachedResponse, ModelCall, ModelEndpoint
from llm.outbound import OutboundRefused, connection_problem, http_status_problem, outbound_client, remote_body_log

RETRY_AFTER_CAP_SECONDS = 30.0
REQUEST_KEYS = {"messages", "max_tokens", "temperature", "top_p", "stop", "seed", "n"}


@dataclass
class ChatResult:
    """What one chat completion gave: one text per choice (n of them), token usage, wall time, and whether it came from
    the cache (then latency_ms is the cache lookup's, and usage is what the original call cost)."""

    texts: list[str]
    usage: dict
    latency_ms: float
    cached: bool
    finish_reasons: list[str] = field(default_factory=list)
    model: str = ""

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


@dataclass(eq=False)
class _Failure(Exception):
    message: str
    status: int | None
    retryable: bool
    attempts: int
    latency_ms: float


# ---------------------------------------------------------------------------------------------------------------
# Request shape and cache key


def chat_request_body(*, model: str, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
                      top_p: float = 1.0, stop=None, seed: int | None = None, n: int = 1) -> dict:
    """The JSON body sent to /chat/completions. Optional parameters left at None are not sent at all."""
    if not isinstance(messages, list) or not messages:
        raise ApplicationError("a chat request needs a non-empty list of messages", where="messages")
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "n": n,
    }
    if stop is not None:
        body["stop"] = stop
    if seed is not None:
        body["seed"] = seed
    return body


def is_deterministic(body: dict) -> bool:
    """The cache rule: greedy decoding (temperature 0) or a fixed seed."""
    return body.get("temperature", 1.0) == 0 or body.get("seed") is not None


def cache_key(*, base_url: str, body: dict) -> str:
    canonical = json.dumps({"base_url": base_url.rstrip("/"), "body": body}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Process-wide limits per endpoint


_limits_lock = threading.Lock()
_semaphores: dict[tuple, threading.BoundedSemaphore] = {}
_next_start: dict[tuple, float] = {}


def _endpoint_slot(endpoint: ModelEndpoint) -> threading.BoundedSemaphore:
    key = (endpoint.pk, endpoint.base_url, endpoint.concurrency)
    with _limits_lock:
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(endpoint.concurrency)
        return _semaphores[key]


def _wait_for_rate_limit(endpoint: ModelEndpoint) -> None:
    """Space request starts 60/requests_per_minute seconds apart (per endpoint, in this process)."""
    if not endpoint.requests_per_minute:
        return
    interval = 60.0 / endpoint.requests_per_minute
    key = (endpoint.pk, endpoint.base_url)
    with _limits_lock:
        now = time.monotonic()
        start = max(now, _next_start.get(key, now))
        _next_start[key] = start + interval
    if start > now:
        time.sleep(start - now)


# ---------------------------------------------------------------------------------------------------------------
# HTTP


def _retry_wait(endpoint: ModelEndpoint, attempt: int, response: httpx.Response | None) -> float:
    if response is not None:
        retry_after = response.headers.get("retry-after", "")
        try:
            return min(float(retry_after), RETRY_AFTER_CAP_SECONDS)
        except ValueError:
            pass
    # Full jitter would make tests flaky; a small jitter keeps parallel workers from retrying in lockstep.
    return endpoint.backoff_seconds * (2 ** attempt) * (1 + random.random() * 0.1)


def _http_client(endpoint: ModelEndpoint) -> httpx.Client:
    # One client per call or batch, shared by its threads: building one loads the CA bundle, which costs more than a
    # tiny model's whole answer.
    return outbound_client(timeout=endpoint.timeout_seconds, max_connections=endpoint.concurrency)


def _send(http: httpx.Client, endpoint: ModelEndpoint, api_key: str, body: dict) -> tuple[dict, int, float]:
    """POST the body, retrying what may succeed later. Returns (response JSON, attempts, latency ms of the last
    attempt).

    Raises _Failure. Touches no database: it runs in worker threads.
    """
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    attempts, started = 0, time.perf_counter()
    with _endpoint_slot(endpoint):
        while True:
            attempts += 1
            _wait_for_rate_limit(endpoint)
            started = time.perf_counter()
            response = None
            try:
                response = http.post(url, json=body, headers=headers)
            except OutboundRefused as error:
                # Decided before connecting, and asking again cannot change the answer.
                raise _Failure(error.message, None, False, attempts, 0.0) from error
            except httpx.HTTPError as error:
                problem = connection_problem(
                    error, base_url=endpoint.base_url, timeout_seconds=endpoint.timeout_seconds
                )
                status, retryable = None, True
            else:
                status = response.status_code
                if status == 200:
                    try:
                        data = response.json()
                    except ValueError:
                        data = None
                    if isinstance(data, dict):
                        return data, attempts, (time.perf_counter() - started) * 1000
                    problem, retryable = "the answer is not a JSON object", False
                else:
                    remote_body_log(endpoint.base_url, response)
                    problem = http_status_problem(status)
                    retryable = status == 429 or status >= 500
            latency = (time.perf_counter() - started) * 1000
            if not retryable or attempts > endpoint.max_retries:
                raise _Failure(problem, status, retryable, attempts, latency)
            time.sleep(_retry_wait(endpoint, attempts - 1, response))


def _result_from(data: dict, *, latency_ms: float, cached: bool) -> ChatResult:
    choices = sorted(data.get("choices") or [], key=lambda choice: choice.get("index", 0))
    texts = []
    for choice in choices:
        content = (choice.get("message") or {}).get("content")
        texts.append(content if isinstance(content, str) else "")
    usage = data.get("usage") or {}
    usage = {name: int(usage.get(name) or 0) for name in ("prompt_tokens", "completion_tokens", "total_tokens")}
    return ChatResult(
        texts=texts,
        usage=usage,
        latency_ms=latency_ms,
        cached=cached,
        finish_reasons=[choice.get("finish_reason") or "" for choice in choices],
        model=str(data.get("model", "")),
    )


# ---------------------------------------------------------------------------------------------------------------
# Public calls


@dataclass
class _Prepared:
    body: dict
    key: str | None
    cached: ChatResult | None = None


def _prepare_all(endpoint: ModelEndpoint, requests: list[dict], purpose: str) -> list[_Prepared]:
    """Request bodies and cache keys, with cache hits already answered and logged (a fixed number of queries)."""
    prepared = []
    for request in requests:
        unknown = set(request) - REQUEST_KEYS
        if unknown:
            raise ApplicationError(f"unknown chat request parameters: {', '.join(sorted(unknown))}", where="requests")
        body = chat_request_body(model=endpoint.model, **request)
        prepared.append(
            _Prepared(body, cache_key(base_url=endpoint.base_url, body=body) if is_deterministic(body) else None)
        )
    keys = {item.key for item in prepared if item.key is not None}
    if not keys:
        return prepared
    started = time.perf_counter()
    hits = {row.key: row for row in CachedResponse.objects.filter(key__in=keys)}
    if not hits:
        return prepared
    lookup_ms = (time.perf_counter() - started) * 1000
    calls = []
    for item in prepared:
        if item.key in hits:
            item.cached = _result_from(json.loads(hits[item.key].response), latency_ms=lookup_ms, cached=True)
            calls.append(
                ModelCall(
                    endpoint=endpoint,
                    purpose=purpose[:200],
                    model=endpoint.model,
                    status=ModelCall.Status.OK,
                    cached=True,
                    attempts=0,
                    prompt_tokens=item.cached.usage["prompt_tokens"],
                    completion_tokens=item.cached.usage["completion_tokens"],
                    latency_ms=lookup_ms,
                )
            )
    with transaction.atomic():
        CachedResponse.objects.filter(pk__in=[row.pk for row in hits.values()]).update(hits=F("hits") + 1)
        ModelCall.objects.bulk_create(calls)
    return prepared


def _outcome_to_result(endpoint: ModelEndpoint, outcome, purpose: str) -> tuple[ChatResult | ModelCallError, ModelCall]:
    """The result (or the error to raise) of one HTTP outcome, and its unsaved log row."""
    log = {"endpoint": endpoint, "purpose": purpose[:200], "model": endpoint.model}
    if isinstance(outcome, _Failure):
        tries = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
        error = ModelCallError(
            f"model endpoint {endpoint.name!r} ({endpoint.base_url}, model {endpoint.model!r}) failed{tries}: "
            f"{outcome.message}",
            endpoint_name=endpoint.name,
            status=outcome.status,
            retryable=outcome.retryable,
            attempts=outcome.attempts,
        )
        return error, ModelCall(
            **log,
            status=ModelCall.Status.ERROR,
            attempts=outcome.attempts,
            latency_ms=outcome.latency_ms,
            error=outcome.message,
        )
    data, attempts, latency_ms = outcome
    result = _result_from(data, latency_ms=latency_ms, cached=False)
    if not result.texts:
        error = ModelCallError(f"model endpoint {endpoint.name!r} ({endpoint.base_url}) answered without any choices",
                               endpoint_name=endpoint.name, status=200, attempts=attempts)
        return error, ModelCall(**log, status=ModelCall.Status.ERROR, attempts=attempts, latency_ms=latency_ms,
                                error="the answer has no choices")
    return result, ModelCall(
        **log,
        status=ModelCall.Status.OK,
        attempts=attempts,
        prompt_tokens=result.usage["prompt_tokens"],
        completion_tokens=result.usage["completion_tokens"],
        latency_ms=latency_ms,
    )


def _record_all(endpoint: ModelEndpoint, prepared: list[_Prepared], outcomes: dict, purpose: str) -> list:
    """Log every call that went out and cache the deterministic successes (a fixed number of queries); return one
    ChatResult or ModelCallError per request, in order."""
    results, calls, cache_rows = [], [], {}
    for index, item in enumerate(prepared):
        if item.cached is not None:
            results.append(item.cached)
            continue
        result, call = _outcome_to_result(endpoint, outcomes[index], purpose)
        results.append(result)
        calls.append(call)
        if isinstance(result, ChatResult) and item.key is not None:
            cache_rows[item.key] = CachedResponse(key=item.key, endpoint=endpoint,
                                                  request=json.dumps(item.body, ensure_ascii=False),
                                                  response=json.dumps(outcomes[index][0], ensure_ascii=False))
    if not calls:
        return results
    with transaction.atomic():
        ModelCall.objects.bulk_create(calls)
        # Two runs of the same job may race to store the same key; the first one wins and both answers are equal.
        CachedResponse.objects.bulk_create(cache_rows.values(), ignore_conflicts=True)
    return results


def _attempt(http: httpx.Client, endpoint: ModelEndpoint, api_key: str, body: dict):
    try:
        return _send(http, endpoint, api_key, body)
    except _Failure as failure:
        return failure


def _run(endpoint: ModelEndpoint, requests: list[dict], purpose: str) -> list:
    prepared = _prepare_all(endpoint, requests, purpose)
    pending = [index for index, item in enumerate(prepared) if item.cached is None]
    outcomes = {}
    if pending:
        api_key = endpoint_api_key(endpoint)
        with _http_client(endpoint) as http:
            if len(pending) == 1:
                outcomes = {pending[0]: _attempt(http, endpoint, api_key, prepared[pending[0]].body)}
            else:
                with ThreadPoolExecutor(max_workers=min(endpoint.concurrency, len(pending))) as pool:
                    futures = {
                        index: pool.submit(_attempt, http, endpoint, api_key, prepared[index].body) for index in pending
                    }
                    outcomes = {index: future.result() for index, future in futures.items()}
    return _record_all(endpoint, prepared, outcomes, purpose)


def chat_complete(*, endpoint: ModelEndpoint, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
                  top_p: float = 1.0, stop: str | list[str] | None = None, seed: int | None = None, n: int = 1,
                  purpose: str = "") -> ChatResult:
    """Ask `endpoint` for a chat completion of `messages`; raises ModelCallError (naming the endpoint) when it fails
    for good. `purpose` is logged with the call. Do not call inside an open transaction (it waits on the network)."""
    request = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "stop": stop,
               "seed": seed, "n": n}
    [result] = _run(endpoint, [request], purpose)
    if isinstance(result, ModelCallError):
        raise result
    return result


def chat_complete_many(*, endpoint: ModelEndpoint, requests: list[dict], purpose: str = "") -> list[ChatResult]:
    """One ChatResult per request, in order. Each request is a dict of chat_complete's keywords ("messages" required;
    max_tokens, temperature, top_p, stop, seed, n optional). At most endpoint.concurrency requests are in flight.

    Every request is attempted; when some fail, the successes are logged and cached (so running the batch again
    pays only for the failures) and a ModelCallError reports how many failed and the first reason.
    """
    results = _run(endpoint, requests, purpose)
    errors = [(index, result) for index, result in enumerate(results) if isinstance(result, ModelCallError)]
    if errors:
        index, first = errors[0]
        raise ModelCallError(f"{len(errors)} of {len(requests)} requests failed; request {index}: {first.message}",
                             endpoint_name=endpoint.name, status=first.status, retryable=first.retryable,
                             attempts=first.attempts)
    return results
