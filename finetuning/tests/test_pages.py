"""The "New fine-tuning job" page and a job's page, through Django's test client."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from finetuning.models import FineTuningJob
from finetuning.tests.fixtures import support_rows, training_lines


def _post(client, **fields):
    data = {"n_epochs": "auto", "batch_size": "2", "learning_rate_multiplier": "auto", "beta": "auto", "suffix": "web",
            "validation_split": "0.25", **fields}
    return client.post("/fine-tuning/new/", data)


@pytest.mark.django_db
def test_the_page_uploads_a_file_starts_the_job_and_shows_the_model_snippet(client, users, tiny_base_model,
                                                                          django_capture_on_commit_callbacks):
    client.force_login(users["ml_engineer"])
    page = client.get("/fine-tuning/new/")
    assert page.status_code == 200 and 'value="auto"' in page.content.decode()
    upload = SimpleUploadedFile("faq.jsonl", training_lines(support_rows(12)), content_type="application/jsonl")
    with django_capture_on_commit_callbacks(execute=False):
        response = _post(client, base_model=tiny_base_model.pk, training_upload=upload)
    job = FineTuningJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/fine-tuning/{job.public_id}/"
    # auto epochs: raised toward 100 examples seen, at most 10 (9 training examples)
    assert job.hyperparameters == {"n_epochs": 10, "batch_size": 2, "learning_rate_multiplier": 1.0}
    assert job.dataset_version.counts["validation"] == 3 and job.dataset_version.counts["train"] == 9
    shown = client.get(response["Location"]).content.decode()
    assert "from openai import OpenAI" in shown and 'base_url=&quot;http://testserver/v1&quot;' in shown
    assert f"{job.public_id}" in shown and f"/training/runs/{job.run_id}/" in shown


@pytest.mark.django_db
def test_a_broken_line_is_shown_beside_the_upload_and_nothing_starts(client, users, tiny_base_model):
    client.force_login(users["ml_engineer"])
    rows = support_rows(3)
    rows[1]["messages"] = []
    upload = SimpleUploadedFile("bad.jsonl", training_lines(rows))
    response = _post(client, base_model=tiny_base_model.pk, training_upload=upload)
    assert response.status_code == 400
    assert "line 2: messages: expected a non-empty list of messages" in response.content.decode()
    assert FineTuningJob.objects.count() == 0


@pytest.mark.django_db
def test_a_picked_version_trains_as_it_is(
    client, users, tiny_base_model, sft_version, django_capture_on_commit_callbacks
):
    client.force_login(users["ml_engineer"])
    with django_capture_on_commit_callbacks(execute=False):
        response = _post(client, base_model=tiny_base_model.pk, training_version=sft_version.pk)
    job = FineTuningJob.objects.get()
    assert response.status_code == 302 and job.dataset_version == sft_version


@pytest.mark.django_db
def test_an_annotator_cannot_open_the_page_and_an_outsider_cannot_see_the_job(client, users, tiny_base_model):
    client.force_login(users["crowd_annotator"])
    assert client.get("/fine-tuning/new/").status_code == 404
    client.force_login(users["outsider"])
    assert client.get("/fine-tuning/ftjob-0/").status_code == 404
