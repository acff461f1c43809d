"""Fixtures for feedback tests: a source with its ingest token, and a maker of well-formed events."""

import pytest

from feedback.services import feedback_source_create, feedback_token_create


@pytest.fixture
def feedback_source(workspace, users):
    return feedback_source_create(workspace=workspace, name="Support app", created_by=users["ml_engineer"])


@pytest.fixture
def ingest_key(feedback_source, users):
    _, key = feedback_token_create(source=feedback_source, created_by=users["ml_engineer"])
    return key


@pytest.fixture
def ingest_client(ingest_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key}")
    return client


def make_event(
    i: int,
    *,
    kind: str = "like",
    question: str | None = None,
    answer: str | None = None,
    model: str = "base",
    prompt_version: str = "v1",
    **extra,
) -> dict:
    event = {
        "idempotency_key": f"evt-{i}",
        "kind": kind,
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "messages": [{"role": "user", "content": question or f"How do I get a refund for order {i}?"}],
        "responses": [
            {
                "text": answer or f"Open Billing and press Refund ({i}).",
                "model": model,
                "prompt_version": prompt_version,
            }
        ],
        "app_id": "shop",
        "session_id": f"s-{i}",
        "user_id": f"u-{i % 7}",
    }
    if kind == "comment":
        event["comment"] = "too short"
    event.update(extra)
    return event


def make_choice(i: int, *, question: str, answers: list[tuple[str, str]], chosen: int, **extra) -> dict:
    return make_event(
        i,
        kind="choice",
        question=question,
        chosen_index=chosen,
        responses=[{"text": text, "model": model, "prompt_version": "v1"} for text, model in answers],
        **extra,
    )


@pytest.fixture
def event_factory():
    return make_event
