"""JSON nested 100,000 deep is refused with a 400 (or the importer's line-numbered error) naming the limit, on every
endpoint that reads JSON, anonymous ones included, and nothing is written."""

import json

import pytest

from accounts.services import api_token_for
from common.json_limits import MAX_DEPTH
from datahub.models import Dataset, ImportJob, Record
from feedback.models import FeedbackEvent
from feedback.services.sources import feedback_source_create, feedback_token_create

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = "[" * 100_000 + "]" * 100_000
LIMIT = f"the JSON nests deeper than {MAX_DEPTH} levels, the limit"


def nested(depth: int):
    value = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_deep_bodies_are_refused_on_every_json_endpoint(http, users, workspace):
    anonymous = http.post("/api/v1/auth/token/", content=DEEP, headers={"Content-Type": "application/json"})
    assert (anonymous.status_code, anonymous.json()) == (400, {"detail": LIMIT, "where": "body", "code": "parse_error"})
    member = http.as_user(users["ml_engineer"])
    for path in ("/api/v1/datasets/", "/api/v1/feedback/events", "/api/v1/model-endpoints/", "/api/v1/base-models/"):
        response = member.post(path, content=DEEP, headers={"Content-Type": "application/json"})
        assert (path, response.status_code, response.json()["detail"]) == (path, 400, LIMIT)
    chat = http.post(
        "/v1/chat/completions",
        content=DEEP,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api_token_for(user=users['ml_engineer'])}",
        },
    )
    assert (chat.status_code, chat.json()["error"]["message"]) == (
        400,
        f"The body nests deeper than {MAX_DEPTH} levels, the limit.",
    )
    assert Dataset.objects.count() == 0


def test_the_fine_tuning_api_refuses_deep_bodies_and_deep_lines_and_keeps_nothing(http, users, workspace):
    from finetuning.models import FineTuningFile, FineTuningJob

    bearer = {"Authorization": f"Bearer {api_token_for(user=users['ml_engineer'])}"}
    job = http.post("/v1/fine_tuning/jobs", content=DEEP, headers={"Content-Type": "application/json", **bearer})
    assert (job.status_code, job.json()["error"]["message"]) == (
        400,
        f"The body nests deeper than {MAX_DEPTH} levels, the limit.",
    )
    good = json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    file = http.post(
        "/v1/files",
        data={"purpose": "fine-tune"},
        files={"file": ("deep.jsonl", f"{good}\n{DEEP}\n".encode())},
        headers=bearer,
    )
    assert (file.status_code, file.json()["error"]["message"]) == (400, f"line 2: {LIMIT}")
    assert FineTuningFile.objects.count() == FineTuningJob.objects.count() == Dataset.objects.count() == 0


def test_deep_metadata_inside_a_feedback_batch_is_refused_and_nothing_is_stored(http, users, workspace):
    source = feedback_source_create(workspace=workspace, name="shop", created_by=users["ml_engineer"])
    token = feedback_token_create(source=source, created_by=users["ml_engineer"])[1]
    event = {"idempotency_key": "k1", "kind": "like", "occurred_at": "2026-11-20T10:02:11Z",
             "messages": [{"role": "user", "content": "Hi"}], "responses": [{"text": "Hello", "model": "m"}],
             "metadata": nested(MAX_DEPTH + 10)}
    response = http.post(
        "/api/v1/feedback/events", json={"events": [event]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert (response.status_code, response.json()["detail"]) == (400, LIMIT)
    assert FeedbackEvent.objects.count() == 0


def test_a_deeply_nested_file_is_refused_with_its_line(http, users, workspace, run_jobs):
    member = http.as_user(users["ml_engineer"])
    dataset = member.post("/api/v1/datasets/", json={"workspace": workspace.pk, "name": "faq"}).json()
    good = json.dumps({"instruction": "Where is my parcel?", "output": "It left our warehouse today."})
    upload = (good + "\n" + DEEP + "\n").encode()
    response = member.post(f"/api/v1/datasets/{dataset['id']}/imports/", files={"file": ("deep.jsonl", upload)})
    assert response.status_code == 202
    run_jobs()
    job = member.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert (job["status"], job["error"], job["where"]) == ("failed", LIMIT, "line 2")
    assert Record.objects.count() == 0
    mapped = member.post(f"/api/v1/datasets/{dataset['id']}/imports/", files={"file": ("ok.jsonl", good.encode())},
                         data={"column_map": DEEP})
    assert (mapped.status_code, mapped.json()["detail"], mapped.json()["where"]) == (400, LIMIT, "column_map")
    assert ImportJob.objects.count() == 1
