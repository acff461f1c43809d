"""Fixtures for llm tests, shared through the root conftest.

model_server         (function) Whetstone's own OpenAI-compatible server, live on 127.0.0.1 through pytest-django's
                     live_server; `.base_url` is ".../v1". Tests using it need @pytest.mark.django_db(transaction=True).
model_server_user    (function) an ML engineer of the `workspace` fixture whose API token the endpoints below send
tiny_endpoint        (function) a ModelEndpoint of `workspace` pointing at `model_server`, serving the tiny base model
                     (training's `tiny_base_model`), with fast retries (backoff 0.01 s) so failing tests stay quick
make_endpoint        (function) make_endpoint(model=..., **fields) -> another such endpoint, e.g. with a tiny timeout
outbound_allow       (function) outbound_allow("127.0.0.1:8000", ...) adds destinations to the operator's
                     private-address allowance (settings.OUTBOUND_PRIVATE_ALLOWED) for this test, as an operator would
make_listener        (function) make_listener(answer=...) -> a started llm.tests.listener.Listener on 127.0.0.1, stopped
                     after the test; the policy does NOT allow it unless the test says so
"""

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class ModelServer:
    base_url: str

    def __str__(self) -> str:
        return self.base_url

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait for requests the server is still answering, e.g. after a client gave up on a timeout, so no request
        outlives the test that sent it."""
        import threading
        import time

        deadline = time.monotonic() + timeout
        for thread in threading.enumerate():
            if "process_request_thread" in thread.name and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


@pytest.fixture
def outbound_allow(settings):
    def allow(*destinations: str) -> None:
        settings.OUTBOUND_PRIVATE_ALLOWED = [*settings.OUTBOUND_PRIVATE_ALLOWED, *destinations]

    return allow


@pytest.fixture
def make_listener():
    from llm.tests.listener import Listener, openai_answer

    started = []

    def make(answer=openai_answer):
        listener = Listener(answer=answer).__enter__()
        started.append(listener)
        return listener

    yield make
    for listener in started:
        listener.__exit__(None, None, None)


@pytest.fixture
def model_server(live_server, outbound_allow) -> ModelServer:
    from training.server import engine

    # Remembered load failures belong to the test that caused them; loaded models are kept (loading is the slow part).
    engine._failures.clear()
    # The project's own server is a loopback address: the outbound policy refuses it unless the operator allows it,
    # as the quick start does for 127.0.0.1:8000.
    port = live_server.url.rsplit(":", 1)[1]
    outbound_allow(f"127.0.0.1:{port}", f"[::1]:{port}")
    return ModelServer(base_url=f"{live_server.url}/v1")


@pytest.fixture
def model_server_user(make_user, workspace):
    from accounts.models import Role

    return make_user("model-server-client", role=Role.ML_ENGINEER, workspace=workspace)


@pytest.fixture
def make_endpoint(workspace, model_server, model_server_user):
    from accounts.services import api_token_for
    from llm.services.endpoints import model_endpoint_create

    counter = {"n": 0}

    def make(*, model: str, name: str | None = None, **fields):
        counter["n"] += 1
        options = {"timeout_seconds": 30.0, "max_retries": 2, "backoff_seconds": 0.01, "concurrency": 4,
                   "api_key": api_token_for(user=model_server_user)}
        options.update(fields)
        return model_endpoint_create(workspace=workspace, name=name or f"endpoint {counter['n']}",
                                     base_url=model_server.base_url, model=model, **options)

    return make


@pytest.fixture
def tiny_endpoint(make_endpoint, tiny_base_model):
    from training.server.registry import base_model_id

    return make_endpoint(model=base_model_id(tiny_base_model), name="tiny local")
