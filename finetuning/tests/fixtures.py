"""Fixtures of the fine-tuning API tests.

training_lines     (function) rows → JSONL bytes in OpenAI's format
support_rows       (function) n → n supervised examples in OpenAI's format (the tiny model's support conversations,
                   numbered past the twelfth so each line is its own example)
dpo_rows           (function) the support questions as OpenAI DPO examples (input / preferred / non-preferred output)
live_worker        (function) a real `manage.py db_worker` (both queues) working in a thread while the test runs, as it
                   works beside the served site; stopped after the test
openai_client      (function) openai_client(user=None, **options) -> an openai.OpenAI of the live server with that
                   user's token (the model_server_user by default), closed after the test
"""

import json
import threading
import time

import openai
import pytest
from django.db import connections

from accounts.services import api_token_for


def training_lines(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def support_rows(n: int) -> list[dict]:
    from training.tests.fixtures import support_conversations

    base = support_conversations()
    rows = []
    for index in range(n):
        messages = [dict(message) for message in base[index % len(base)]["messages"]]
        if index >= len(base):
            messages[1]["content"] = f"{messages[1]['content']} ({index // len(base) + 1})"
        rows.append({"messages": messages})
    return rows


def dpo_rows() -> list[dict]:
    from training.tests.fixtures import preference_rows

    return [{"input": {"messages": row["messages"]}, "preferred_output": [row["chosen"]],
             "non_preferred_output": [row["rejected"]]} for row in preference_rows()]


@pytest.fixture
def live_worker():
    # The worker `manage.py db_worker` runs, minus its signal handlers (a thread cannot install them).
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(queue_names=["*"], interval=0.2, batch=False, backend_name="default", startup_delay=False,
                    max_tasks=None, worker_id="finetuning-tests", excluded_queue_names=[])
    failures = []

    def work():
        try:
            worker.run()
        except BaseException as error:  # the test reports it
            failures.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work, name="db_worker", daemon=True)
    thread.start()
    yield worker
    worker.running = False
    thread.join(timeout=300)
    assert not thread.is_alive(), "the worker did not stop"
    assert not failures, failures


@pytest.fixture
def openai_client(model_server, model_server_user):
    clients = []

    def make(user=None, **options) -> openai.OpenAI:
        key = api_token_for(user=user or model_server_user)
        clients.append(openai.OpenAI(base_url=model_server.base_url, api_key=key, max_retries=0, **options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
    model_server.wait_idle()


def wait_for(client: openai.OpenAI, job_id: str, statuses: set[str], *, timeout: float = 600.0, check=None):
    """Poll the job, as a script does, until its status is one of `statuses` (and `check(job)` holds, when given).
    The timeout only guards against a hang: on a busy shared CI machine a tiny run can take minutes."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses and (check is None or check(job)):
            return job
        if job.status in {"succeeded", "failed", "cancelled"} - statuses:
            raise AssertionError(f"job ended {job.status}: {job.error}")
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {job.status} after {timeout} s")
        time.sleep(0.3)
