"""The whole loop through the REST API, each step by the role that owns it:
import → annotate (with a correction) → freeze → SFT a few steps on the tiny model → blind study → support rate.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datahub.models import Record
from evaluation.models import Comparison
from training.models import MetricPoint

# The real worker closes its database connection after a batch, so the test runs outside a wrapping transaction.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EN = "You are the support assistant of a lamp maker."
ZH = "你是灯具品牌的客服助手。"


def _rows() -> list[dict]:
    rows = []
    for i in range(40):
        system, question, answer = (
            (
                EN,
                f"My lamp number {i} does not turn on. What should I do?",
                f"Check that lamp {i} is plugged in, then hold the button for 5 seconds.",
            )
            if i % 2 == 0
            else (ZH, f"第 {i} 号台灯不亮了，怎么办？", f"请确认 {i} 号台灯已插好电源，然后长按按钮 5 秒。")
        )
        rows.append({"messages": [{"role": "system", "content": system}, {"role": "user", "content": question},
                                  {"role": "assistant", "content": answer}]})
    return rows


def _walk(nodes):
    for node in nodes:
        yield node
        yield from _walk(node.get("children", []))


def test_import_label_freeze_train_study(
    users, workspace, api_for, run_jobs, django_capture_on_commit_callbacks, tiny_model_dir
):
    ml, pm = api_for(users["ml_engineer"]), api_for(users["product_manager"])
    annotator, rater = api_for(users["expert_annotator"]), api_for(users["crowd_annotator"])

    # 1. datahub: an ML engineer imports a JSONL file of messages; the import runs as a job.
    dataset = ml.post("/api/v1/datasets/", {"workspace": workspace.pk, "name": "lamps"}, format="json").json()
    upload = SimpleUploadedFile(
        "lamps.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()).encode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = ml.post(f"/api/v1/datasets/{dataset['id']}/imports/", {"file": upload}, format="multipart")
    assert job.status_code == 202, job.content
    run_jobs()
    job = ml.get(f"/api/v1/imports/{job.json()['id']}/").json()
    assert (job["status"], job["created_count"], job["duplicate_count"]) == ("succeeded", 40, 0)
    version = ml.post(
        f"/api/v1/datasets/{dataset['id']}/versions/",
        {"seed": 3, "ratios": {"train": 0.6, "validation": 0.1, "test": 0.3}},
        format="json",
    ).json()
    assert sum(version["counts"].values()) == 40 and version["counts"]["test"] > 0

    # 2. annotation: a two-level label tree, a project over the version; the annotator labels and corrects one item.
    schema = ml.post("/api/v1/label-schemas/", {"workspace": workspace.pk, "name": "topics", "tree": [
        {"name": "product", "children": [{"name": "power"}, {"name": "setup"}]},
        {"name": "billing", "children": [{"name": "refund"}]},
    ]}, format="json").json()
    power = next(label for label in _walk(schema["labels"]) if label["path"] == "product/power")
    project = ml.post(
        "/api/v1/annotation/projects/",
        {"name": "topics", "dataset_version": version["id"], "schema": schema["id"]},
        format="json",
    ).json()
    item = annotator.post(f"/api/v1/annotation/projects/{project['id']}/claim/").json()
    corrected = item["response"] + " If it still stays dark, write to us for a replacement."
    submitted = annotator.post(
        f"/api/v1/annotation/assignments/{item['assignment_id']}/submit/",
        {"label_ids": [power["id"]], "corrected_response": corrected, "time_spent_ms": 5000},
        format="json",
    )
    assert submitted.status_code == 200, submitted.content
    exported = ml.post(f"/api/v1/annotation/projects/{project['id']}/export/").json()
    labelled = ml.get(f"/api/v1/versions/{exported['version_id']}/").json()
    assert labelled["parent"] == version["id"] and labelled["counts"] == version["counts"]
    correction = Record.objects.get(parent_id=item["record_id"])
    assert correction.messages[-1]["content"] == corrected and correction.origin == "annotation"

    # 3. training: the ML engineer registers the tiny model and launches SFT with LoRA on the labelled version.
    base = ml.post(
        "/api/v1/base-models/", {"workspace": workspace.pk, "name": "tiny", "path": str(tiny_model_dir)}, format="json"
    ).json()
    with django_capture_on_commit_callbacks(execute=True):
        run = ml.post(
            "/api/v1/training/runs/",
            {
                "workspace": workspace.pk,
                "name": "lamps-lora",
                "base_model": base["id"],
                "dataset_version": labelled["id"],
                "hyperparameters": {"max_steps": 6, "logging_steps": 1, "learning_rate": 1e-3},
            },
            format="json",
        ).json()
    assert run["status"] == "queued"
    run_jobs()
    run = ml.get(f"/api/v1/training/runs/{run['id']}/").json()
    assert run["status"] == "succeeded", run["error"]
    losses = [p.values["loss"] for p in MetricPoint.objects.filter(run_id=run["id"]) if "loss" in p.values]
    assert len(losses) == 6 and all(loss > 0 for loss in losses)
    artifact = ml.get("/api/v1/model-artifacts/").json()["results"][0]
    assert (artifact["run"], artifact["dataset_version"]) == (run["id"], labelled["id"])

    # 4. evaluation: the product manager compares base and fine-tune blind on the test split; a rater votes.
    with django_capture_on_commit_callbacks(execute=True):
        study = pm.post(
            "/api/v1/studies/",
            {
                "workspace": workspace.pk,
                "name": "tiny vs lamps-lora",
                "dataset_version": labelled["id"],
                "max_new_tokens": 16,
                "arms": [
                    {"name": "base", "base_model": base["id"], "is_baseline": True},
                    {"name": "fine-tuned", "artifact": artifact["id"]},
                ],
            },
            format="json",
        )
    assert study.status_code == 201, study.content
    run_jobs()
    study = pm.get(f"/api/v1/studies/{study.json()['id']}/").json()
    assert study["status"] == "open", study["error"]
    shown = Comparison.objects.filter(study_id=study["id"], is_identical=False).count()
    votes = 0
    while (nxt := rater.get(f"/api/v1/studies/{study['id']}/next/")).status_code == 200:
        body = nxt.json()
        assert "base" not in json.dumps(body) and "fine-tuned" not in json.dumps(body)
        choice = ("left", "right", "tie")[votes % 3]
        assert rater.post(
            f"/api/v1/comparisons/{body['token']}/vote/", {"choice": choice}, format="json"
        ).status_code in (200, 201)
        votes += 1
    assert votes == shown

    results = pm.get(f"/api/v1/studies/{study['id']}/results/").json()
    result = results["results"][0]
    assert result["votes"] == votes
    if votes:
        assert result["support_rate"] == pytest.approx(
            (result["wins"] + (result["ties"] + result["both_bad"]) / 2) / votes
        )
        assert result["interval_low"] <= result["support_rate"] <= result["interval_high"]
    assert rater.get(f"/api/v1/studies/{study['id']}/results/").status_code == 404
