"""Import options through the API: CSV with a column mapping, skip_invalid and its CSV report, resuming a stalled
job."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Role
from datahub.models import ImportJob, Record
from datahub.services.imports import import_job_run
from datahub.tests.fixtures import alpaca_rows

EDITORS = {"admin", "ml_engineer"}
VIEWERS = {"admin", "ml_engineer", "product_manager"}
EVERYONE = [*Role.values, "outsider"]


def stalled_job(dataset, write_file, import_path) -> ImportJob:
    """A job left running by a dead worker: running, its last progress written long ago."""
    job = import_path(dataset, write_file("a.jsonl", alpaca_rows(2)))
    ImportJob.objects.filter(pk=job.pk).update(status="running", updated_at=timezone.now() - timedelta(hours=2))
    return ImportJob.objects.get(pk=job.pk)


def test_csv_upload_with_column_map_and_skip_invalid_report(api_for, users, dataset):
    client = api_for(users["ml_engineer"])
    upload = SimpleUploadedFile("qa.csv", b"question,answer\nWhat?,That.\nEmpty?,\nWhy?,Because.\n")
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/imports/",
        {
            "file": upload,
            "column_map": json.dumps({"instruction": "question", "output": "answer"}),
            "skip_invalid": "true",
        },
        format="multipart",
    )
    assert response.status_code == 202
    assert (response.json()["column_map"], response.json()["skip_invalid"]) == (
        {"instruction": "question", "output": "answer"},
        True,
    )
    job = import_job_run(job=ImportJob.objects.get())
    body = client.get(f"/api/v1/imports/{job.pk}/").json()
    assert (body["status"], body["created_count"], body["invalid_count"], body["detected_container"]) == (
        "succeeded",
        2,
        1,
        "csv",
    )
    report = client.get(f"/api/v1/imports/{job.pk}/errors/")
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(report.streaming_content).decode() == "line,field,reason\r\n3,output,field 'output' is empty\r\n"


def test_resume_refuses_a_job_that_is_not_stalled(api_for, users, dataset, write_file, import_path):
    job = import_path(dataset, write_file("a.jsonl", alpaca_rows(2)))
    response = api_for(users["ml_engineer"]).post(f"/api/v1/imports/{job.pk}/resume/")
    assert (response.status_code, response.json()["where"], response.json()["code"]) == (400, "status", "not_stale")


@pytest.mark.parametrize("role", EVERYONE)
def test_resume_permission(role, users, api_for, dataset, write_file, import_path):
    job = stalled_job(dataset, write_file, import_path)
    assert api_for(users[role]).get(f"/api/v1/imports/{job.pk}/").json().get("stale") is (
        True if role in VIEWERS else None
    )
    response = api_for(users[role]).post(f"/api/v1/imports/{job.pk}/resume/")
    expected = 202 if role in EDITORS else 403 if role in VIEWERS else 404
    assert response.status_code == expected
    job.refresh_from_db()
    assert job.status == ("queued" if role in EDITORS else "running")


@pytest.mark.parametrize("role", EVERYONE)
def test_error_report_permission(role, users, api_for, dataset, write_file, import_path):
    job = import_path(dataset, write_file("a.jsonl", alpaca_rows(2)))
    assert api_for(users[role]).get(f"/api/v1/imports/{job.pk}/errors/").status_code == (
        200 if role in VIEWERS else 404
    )
    assert Record.objects.count() == 2
