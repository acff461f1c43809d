"""Fixtures for annotation tests, shared through the root conftest. Names start with the app's words to stay unique."""

import pytest
from django.db import transaction

from annotation.models import Label, LabelSchema
from annotation.services import annotation_project_create, annotation_submit, label_schema_create
from datahub.models import Dataset
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_freeze

TOPIC_TREE = [
    {"name": "billing", "description": "Money questions", "children": [{"name": "refund"}, {"name": "invoice"}]},
    {"name": "account", "children": [{"name": "login"}, {"name": "delete"}]},
]


def support_row(i: int) -> dict:
    return {"kind": "sft", "messages": [
        {"role": "system", "content": "You are Acme's support assistant."},
        {"role": "user", "content": f"Question {i}: how do I get my money back?"},
        {"role": "assistant", "content": f"Answer {i}: open Billing."},
    ]}


def preference_row(i: int) -> dict:
    """A preference record: a customer question with a helpful (chosen) and an unhelpful (rejected) answer."""
    return {
        "kind": "preference",
        "messages": [{"role": "user", "content": f"Question {i}: how do I get my money back?"}],
        "chosen": {"role": "assistant", "content": f"Answer {i}: open Billing, then Refunds."},
        "rejected": {"role": "assistant", "content": f"Answer {i}: I cannot help with that."},
    }


def project_mode_set(project, mode: str):
    """Set the project's mode directly (tests of the AI runs need a mode that lets AI annotators work)."""
    project.mode = mode
    project.save(update_fields=["mode"])
    return project


def label_id(schema: LabelSchema, path: str) -> int:
    return Label.objects.get(schema=schema, path=path).pk


@pytest.fixture
def annotation_version_factory(workspace, users):
    """A frozen version of a fresh dataset with `n` support conversations (or the given canonical rows)."""
    counter = {"n": 0}

    def make(*, n: int = 3, rows: list[dict] | None = None, workspace=workspace):
        counter["n"] += 1
        dataset = Dataset.objects.create(workspace=workspace, name=f"Support chats {counter['n']}")
        with transaction.atomic():
            records_bulk_create(dataset=dataset, rows=rows or [support_row(i) for i in range(n)])
        return dataset_version_freeze(dataset=dataset, created_by=users["ml_engineer"], seed=7)

    return make


@pytest.fixture
def topic_schema(workspace, users):
    return label_schema_create(workspace=workspace, name="Topic", tree=TOPIC_TREE, created_by=users["ml_engineer"])


@pytest.fixture
def annotation_project_factory(workspace, users, annotation_version_factory, topic_schema):
    def make(
        *,
        n: int = 3,
        overlap: int = 1,
        lease_seconds: int = 600,
        schema=None,
        version=None,
        name: str = "Support topics",
        mode: str = "",
    ):
        project = annotation_project_create(
            workspace=workspace,
            name=name,
            dataset_version=version or annotation_version_factory(n=n),
            schema=schema or topic_schema,
            overlap=overlap,
            instructions="Pick the topic; fix the answer if it is wrong.",
            lease_seconds=lease_seconds,
            created_by=users["ml_engineer"],
        )
        return project_mode_set(project, mode) if mode else project

    return make


@pytest.fixture
def annotation_project(annotation_project_factory):
    return annotation_project_factory()


def submit_as(user, assignment, *paths: str, **fields):
    """Submit the labels at `paths` for `assignment` through the real service (time 1 ms unless given)."""
    schema = assignment.task.project.schema
    fields.setdefault("time_spent_ms", 1)
    return annotation_submit(
        assignment=assignment, label_ids=[label_id(schema, p) for p in paths], submitted_by=user, **fields
    )


def ai_replies_seed(ai, project, replies) -> None:
    """Store the model's replies to an AI annotator's run as cached responses under the run's exact requests (the real
    prompt with its questions and ranking answers), so the run's real client answers from the cache. `replies`: task
    index in id order -> text, or a function (index, record) -> text or None (None: no reply stored)."""
    import json

    from annotation.models import Assignment
    from annotation.services.ai_annotators import _candidates_of, _records_of, label_choices
    from annotation.services.ai_answers import ai_prompt_fill, ai_questions
    from llm.client import cache_key, chat_request_body
    from llm.models import CachedResponse

    reply_for = replies if callable(replies) else (lambda index, record: replies.get(index))
    schema = project.schema
    choices = label_choices(schema=schema)
    tasks = list(project.tasks.order_by("pk"))
    held = [Assignment(task_id=task.pk) for task in tasks]
    records, candidates = _records_of(held), _candidates_of(held)
    for index, task in enumerate(tasks):
        record = records[task.pk]
        text = reply_for(index, record)
        if text is None:
            continue
        questions = ai_questions(schema=schema, record=record, candidates=candidates[task.pk])
        content = ai_prompt_fill(template=ai.prompt_template, record=record, choices=choices, multiple=schema.multiple,
                                 questions=questions)
        body = chat_request_body(
            model=ai.endpoint.model,
            messages=[{"role": "user", "content": content}],
            max_tokens=ai.max_tokens,
            temperature=ai.temperature,
        )
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        reply = {
            "model": ai.endpoint.model,
            "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        }
        CachedResponse.objects.create(key=cache_key(base_url=ai.endpoint.base_url, body=body), endpoint=ai.endpoint,
                                      request=json.dumps(body), response=json.dumps(reply))
