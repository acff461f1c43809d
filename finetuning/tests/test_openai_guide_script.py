"""A script written exactly as OpenAI's fine-tuning guide shows it (upload, create, poll, list events, call the model),
with only base_url and api_key pointing at Whetstone."""

import json
import time

import pytest

from accounts.services import api_token_for
from finetuning.tests.fixtures import support_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_guides_script_runs_with_two_lines_changed(model_server, model_server_user, tiny_base_model, live_worker,
                                                       tmp_path):
    with open(tmp_path / "mydata.jsonl", "w", encoding="utf-8") as data:
        for row in support_rows(34):
            data.write(json.dumps(row) + "\n")
    base_url, api_key = model_server.base_url, api_token_for(user=model_server_user)

    # ---- the guide's script; only the two marked lines differ from OpenAI's ----
    from openai import OpenAI

    client = OpenAI(
        base_url=base_url,  # changed
        api_key=api_key,  # changed
    )

    file = client.files.create(
        file=open(tmp_path / "mydata.jsonl", "rb"),
        purpose="fine-tune",
    )

    job = client.fine_tuning.jobs.create(
        training_file=file.id,
        model="tiny-chat",
    )

    while True:
        job = client.fine_tuning.jobs.retrieve(job.id)
        if job.status in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(2)

    events = client.fine_tuning.jobs.list_events(fine_tuning_job_id=job.id, limit=10)
    for event in events.data:
        print(event.message)

    completion = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": "Where is my package? It has not arrived yet."},
        ],
    )
    print(completion.choices[0].message)
    # ---- end of the script ----

    client.close()
    assert job.status == "succeeded", job.error
    assert job.hyperparameters.n_epochs == 3 and job.hyperparameters.batch_size == 1  # auto: 3 × 34 ≥ 100 examples
    assert events.data[0].message == "The job has successfully completed" and len(events.data) == 10
    assert completion.model == job.fine_tuned_model and completion.choices[0].message.role == "assistant"
