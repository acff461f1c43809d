"""Model endpoint configuration: create, update, delete, test the connection.

The API key is taken here and never given back: it is either the name of an environment variable (api_key_env) or
encrypted at rest (api_key). Setting one clears the other.

Every save checks what the endpoint will do with the key: the variable must be one the operator allowed
(llm.keys.api_key_env_check) and the base URL must pass the outbound policy (llm.outbound.base_url_check). Both are
checked again on every call, since settings and DNS change.
"""

import time

import httpx
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from llm.keys import api_key_encrypt, api_key_env_check, endpoint_api_key
from llm.models import ModelEndpoint
from llm.outbound import (
    OutboundRefused,
    base_url_check,
    base_url_parts,
    connection_problem,
    http_status_problem,
    outbound_client,
    remote_body_log,
)

NAME_MAX = 200
LIMITS = {
    "timeout_seconds": (0.001, 3600.0),
    "max_retries": (0, 10),
    "backoff_seconds": (0.0, 60.0),
    "concurrency": (1, 64),
    "requests_per_minute": (0, 100_000),
}
SETTINGS = (
    "base_url",
    "model",
    "timeout_seconds",
    "max_retries",
    "backoff_seconds",
    "concurrency",
    "requests_per_minute",
)


def _snapshot(endpoint: ModelEndpoint) -> dict:
    """What history records: every setting, and whether there is a key (never the key)."""
    return {"name": endpoint.name, **{name: getattr(endpoint, name) for name in SETTINGS},
            "api_key_env": endpoint.api_key_env, "has_api_key": endpoint.has_api_key}


def _check(*, name: str, base_url: str, model: str, api_key_env: str, numbers: dict) -> None:
    if not name:
        raise ApplicationError("a model endpoint needs a name", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    base_url_check(base_url)
    if api_key_env:
        api_key_env_check(api_key_env)
    if not model:
        raise ApplicationError("a model endpoint needs the model name the endpoint expects", where="model")
    for field, value in numbers.items():
        low, high = LIMITS[field]
        if not low <= value <= high:
            raise ApplicationError(f"{field} must be between {low:g} and {high:g}; got {value}", where=field)


def _save(endpoint: ModelEndpoint) -> None:
    try:
        # The unique constraint decides between two concurrent saves of the same name.
        with transaction.atomic():
            endpoint.save()
    except IntegrityError as error:
        raise ApplicationError(
            f"a model endpoint named {endpoint.name!r} already exists in this workspace", where="name", code="duplicate"
        ) from error


@transaction.atomic
def model_endpoint_create(*, workspace: Workspace, name: str, base_url: str, model: str, api_key: str = "",
                          api_key_env: str = "", timeout_seconds: float = 60.0, max_retries: int = 3,
                          backoff_seconds: float = 0.5, concurrency: int = 4, requests_per_minute: int = 0,
                          created_by=None) -> ModelEndpoint:
    """A new endpoint in `workspace`. Give at most one of api_key (stored encrypted) and api_key_env."""
    name, base_url, model, api_key_env = name.strip(), base_url.strip().rstrip("/"), model.strip(), api_key_env.strip()
    numbers = {"timeout_seconds": timeout_seconds, "max_retries": max_retries, "backoff_seconds": backoff_seconds,
               "concurrency": concurrency, "requests_per_minute": requests_per_minute}
    if api_key and api_key_env:
        raise ApplicationError(
            "give either an API key or the environment variable holding it, not both", where="api_key"
        )
    _check(name=name, base_url=base_url, model=model, api_key_env=api_key_env, numbers=numbers)
    endpoint = ModelEndpoint(workspace=workspace, name=name, base_url=base_url, model=model, api_key_env=api_key_env,
                             api_key_encrypted=api_key_encrypt(api_key) if api_key else "", **numbers)
    _save(endpoint)
    history_record(actor=created_by, target=endpoint, verb="created", after=_snapshot(endpoint))
    return endpoint


@transaction.atomic
def model_endpoint_update(*, endpoint: ModelEndpoint, updated_by=None, name: str | None = None,
                          api_key: str | None = None, api_key_env: str | None = None, clear_api_key: bool = False,
                          **settings) -> ModelEndpoint:
    """Change the given settings (see SETTINGS); fields left at None keep their value.

    api_key replaces the stored key (and clears api_key_env); api_key_env names a variable (and drops the stored key);
    clear_api_key removes both.
    """
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ApplicationError(f"unknown model endpoint settings: {', '.join(sorted(unknown))}", where="settings")
    before = _snapshot(endpoint)
    if name is not None:
        endpoint.name = name.strip()
    for field, value in settings.items():
        if value is not None:
            setattr(
                endpoint,
                field,
                value.strip().rstrip("/") if field == "base_url" else value.strip() if field == "model" else value,
            )
    if api_key and api_key_env:
        raise ApplicationError(
            "give either an API key or the environment variable holding it, not both", where="api_key"
        )
    if clear_api_key:
        endpoint.api_key_env, endpoint.api_key_encrypted = "", ""
    if api_key:
        endpoint.api_key_env, endpoint.api_key_encrypted = "", api_key_encrypt(api_key)
    elif api_key_env:
        endpoint.api_key_env, endpoint.api_key_encrypted = api_key_env.strip(), ""
    _check(name=endpoint.name, base_url=endpoint.base_url, model=endpoint.model, api_key_env=endpoint.api_key_env,
           numbers={field: getattr(endpoint, field) for field in LIMITS})
    _save(endpoint)
    after = _snapshot(endpoint)
    # A new key under the same setting is still a change worth recording, without recording the key.
    key_replaced = bool(api_key)
    if after != before or key_replaced:
        history_record(actor=updated_by, target=endpoint, verb="updated", before=before,
                       after={**after, "api_key_replaced": key_replaced})
    return endpoint


@transaction.atomic
def model_endpoint_delete(*, endpoint: ModelEndpoint, deleted_by=None) -> None:
    history_record(actor=deleted_by, target=endpoint, verb="deleted", before=_snapshot(endpoint))
    endpoint.delete()


def model_endpoint_test(*, endpoint: ModelEndpoint) -> dict:
    """Ask the endpoint for its model list (GET {base_url}/models): can we reach it, does the key work, does it serve
    endpoint.model? Returns {"ok", "message", "latency_ms", "models"}; never raises for a failed connection.

    The key and the destination are checked first (a refused address gets the policy's message before any connection
    is attempted), and the message says what failed in our words, never what the remote sent.
    Not inside a transaction: it waits on the network."""
    def failed(message: str, latency_ms: float = 0.0) -> dict:
        return {"ok": False, "message": message, "latency_ms": latency_ms, "models": []}

    url = endpoint.base_url.rstrip("/") + "/models"
    try:
        api_key = endpoint_api_key(endpoint)
        base_url_parts(endpoint.base_url)
    except ApplicationError as error:
        return failed(error.message)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    started = time.perf_counter()
    try:
        with outbound_client(timeout=endpoint.timeout_seconds, max_connections=1) as http:
            response = http.get(url, headers=headers)
    except (OutboundRefused, httpx.HTTPError) as error:
        latency_ms = 0.0 if isinstance(error, OutboundRefused) else (time.perf_counter() - started) * 1000
        return failed(connection_problem(error, base_url=endpoint.base_url, timeout_seconds=endpoint.timeout_seconds),
                      latency_ms)
    latency_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        remote_body_log(endpoint.base_url, response)
        return failed(http_status_problem(response.status_code), latency_ms)
    try:
        rows = response.json().get("data")
        models = ([row["id"] for row in rows if isinstance(row, dict) and isinstance(row.get("id"), str)]
                  if isinstance(rows, list) else None)
    except (ValueError, AttributeError, TypeError, KeyError):
        models = None
    if models is None:
        remote_body_log(endpoint.base_url, response)
        return failed(_("the endpoint did not answer with an OpenAI model list"), latency_ms)
    if endpoint.model not in models:
        return {"ok": False, "message": f"connected, but the endpoint does not serve {endpoint.model!r}",
                "latency_ms": latency_ms, "models": models[:50]}
    return {
        "ok": True,
        "message": f"connected; {endpoint.model!r} is served",
        "latency_ms": latency_ms,
        "models": models[:50],
    }
