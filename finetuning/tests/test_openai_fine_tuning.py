"""The official `openai` package, unchanged, drives fine-tuning on Whetstone's own server on 127.0.0.1, with a real
worker training the tiny model on the CPU."""

import io

import openai
import pytest

from accounts.models import Role
from datahub.models import Dataset, DatasetVersion, Source
from finetuning.models import FineTuningFile, FineTuningJob
from finetuning.tests.fixtures import dpo_rows, support_rows, training_lines, wait_for
from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = [{"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": "I would like to return my order."}]


def upload(client, rows, name="train.jsonl"):
    return client.files.create(file=(name, io.BytesIO(training_lines(rows))), purpose="fine-tune")


def test_supervised_job_trains_reports_and_serves_its_model_and_checkpoints(
    openai_client, tiny_base_model, live_worker
):
    client = openai_client()
    training = upload(client, support_rows(12))
    validation = upload(client, support_rows(16)[12:], name="valid.jsonl")
    assert (training.object, training.purpose, training.status, training.filename) == (
        "file",
        "fine-tune",
        "processed",
        "train.jsonl",
    )
    assert client.files.retrieve(training.id).bytes == len(training_lines(support_rows(12)))
    assert client.files.content(training.id).content == training_lines(support_rows(12))

    job = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=training.id, validation_file=validation.id, suffix="support", seed=7,
        metadata={"team": "care"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}})
    assert job.status == "queued"
    assert job.method.type == "supervised"
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == 4
    assert job.hyperparameters.learning_rate_multiplier == 1.0  # what "auto" chose
    assert job.seed == 7 and job.metadata == {"team": "care"}

    done = wait_for(client, job.id, {"succeeded"})
    assert done.fine_tuned_model == f"ft:tiny-chat:acme-support:support:{job.id}"
    assert done.trained_tokens > 0
    assert done.finished_at >= done.created_at and done.error is None

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    messages = [event.message for event in reversed(events)]
    assert messages[:3] == [f"Created fine-tuning job: {job.id}",
                            f"Validating training file: {training.id} and validation file: {validation.id}",
                            "Files validated, moving job to queued state"]
    assert "Fine-tuning job started" in messages
    assert messages[-2:] == [
        f"New fine-tuned model created: {done.fine_tuned_model}",
        "The job has successfully completed",
    ]
    steps = [event.data["step"] for event in reversed(events) if event.type == "metrics" and "train_loss" in event.data]
    assert steps == [1, 2, 3, 4, 5, 6]  # 12 examples, batches of 4, 2 epochs: one metrics event a step
    assert any(event.type == "metrics" and "valid_loss" in event.data for event in events)
    assert [m for m in messages if m.startswith("Checkpoint")] == [
        "Checkpoint created at step 3",
        "Checkpoint created at step 6",
    ]
    page = client.fine_tuning.jobs.list_events(job.id, limit=2)
    assert [event.id for event in page.data] == [event.id for event in events[:2]] and page.has_more

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [6, 3]
    assert checkpoints[1].fine_tuned_model_checkpoint == f"{done.fine_tuned_model}:ckpt-step-3"
    assert checkpoints[1].metrics.train_loss > 0 and checkpoints[1].metrics.valid_loss > 0

    listed = {model.id: model.owned_by for model in client.models.list()}
    assert listed[done.fine_tuned_model] == "Acme support"
    for model in (done.fine_tuned_model, checkpoints[1].fine_tuned_model_checkpoint):
        reply = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8, temperature=0)
        assert reply.model == model and reply.choices[0].message.content is not None

    # What the API did is the platform's own: a dataset and version per file, a run, a model with lineage.
    run = TrainingRun.objects.get(fine_tuning_jobs__public_id=job.id)
    assert run.status == "succeeded" and run.artifact.dataset_version.operation == DatasetVersion.Operation.OPENAI_JOB
    assert run.dataset_version.parent.dataset.name == f"train.jsonl ({training.id})"
    assert run.dataset_version.counts == {"train": 12, "validation": 4, "test": 0}
    assert Source.objects.get(name="OpenAI API uploads").kind == Source.Kind.OPENAI_API
    assert run.hyperparameters["num_train_epochs"] == 2 and run.hyperparameters["per_device_train_batch_size"] == 4

    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"team": "care"})] == [job.id]
    assert list(client.fine_tuning.jobs.list(metadata={"team": "sales"})) == []

    assert client.models.delete(done.fine_tuned_model).deleted is True
    assert done.fine_tuned_model not in {model.id for model in client.models.list()}
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=done.fine_tuned_model, messages=QUESTION, max_tokens=4)
    assert client.files.delete(training.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(training.id)
    assert Dataset.objects.filter(name=f"train.jsonl ({training.id})").exists()  # lineage stays


def test_dpo_job_succeeds_and_reports_its_beta(openai_client, tiny_base_model, live_worker):
    client = openai_client()
    training = upload(client, dpo_rows(), name="prefs.jsonl")
    job = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=training.id, suffix="prefs",
        method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "batch_size": 4, "beta": "auto"}}})
    assert job.method.dpo.hyperparameters.beta == 0.1
    done = wait_for(client, job.id, {"succeeded"})
    assert done.fine_tuned_model == f"ft:tiny-chat:acme-support:prefs:{job.id}"
    assert TrainingRun.objects.get(fine_tuning_jobs__public_id=job.id).method == TrainingRun.Method.DPO
    losses = [e for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"]
    assert len(losses) == 3
    reply = client.chat.completions.create(model=done.fine_tuned_model, messages=QUESTION, max_tokens=4, temperature=0)
    assert reply.choices[0].finish_reason in ("stop", "length")


def _long_job(client, **extra):
    training = upload(client, support_rows(24))
    return client.fine_tuning.jobs.create(model="tiny-chat", training_file=training.id,
                                          hyperparameters={"n_epochs": 40, "batch_size": 1}, **extra)


def _has_trained(job_id: str, steps: int = 2) -> bool:
    run = FineTuningJob.objects.get(public_id=job_id).run
    return run.metric_points.filter(step__gte=steps).exists()


def test_cancel_stops_a_running_job(openai_client, tiny_base_model, live_worker):
    client = openai_client()
    job = _long_job(client)
    wait_for(client, job.id, {"running"}, check=lambda _: _has_trained(job.id))
    assert client.fine_tuning.jobs.cancel(job.id).status in ("running", "cancelled")
    done = wait_for(client, job.id, {"cancelled"})
    assert done.fine_tuned_model is None
    run = TrainingRun.objects.get(fine_tuning_jobs__public_id=job.id)
    assert run.status == "cancelled" and run.metric_points.order_by("-step").first().step < 960
    with pytest.raises(openai.BadRequestError, match="already completed"):
        client.fine_tuning.jobs.cancel(job.id)


def test_pause_keeps_a_checkpoint_and_resume_continues_from_it(openai_client, tiny_base_model, live_worker):
    client = openai_client()
    training = upload(client, support_rows(12))
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=training.id,
                                         hyperparameters={"n_epochs": 2, "batch_size": 1})
    wait_for(client, job.id, {"running"}, check=lambda _: _has_trained(job.id))
    client.fine_tuning.jobs.pause(job.id)
    paused = wait_for(client, job.id, {"paused"})
    assert paused.fine_tuned_model is None
    first = FineTuningJob.objects.get(public_id=job.id).run
    stopped_at = first.checkpoints.order_by("-step").first().step
    assert 0 < stopped_at < 24
    assert client.fine_tuning.jobs.resume(job.id).status == "queued"
    done = wait_for(client, job.id, {"succeeded"})
    second = FineTuningJob.objects.get(public_id=job.id).run
    assert second.parent_id == first.pk and second.resume_from.step == stopped_at
    assert second.metric_points.order_by("step").first().step > stopped_at  # continued, not started over
    messages = [event.message for event in client.fine_tuning.jobs.list_events(job.id, limit=1000)]
    assert f"Job resumed from step {stopped_at}" in messages and messages[0] == "The job has successfully completed"
    assert client.chat.completions.create(model=done.fine_tuned_model, messages=QUESTION, max_tokens=4).choices


def test_a_broken_line_is_named_with_its_field_and_nothing_is_kept(openai_client, tiny_base_model):
    client = openai_client()
    rows = support_rows(4)
    rows[2]["messages"][1]["role"] = "customer"
    with pytest.raises(openai.BadRequestError) as raised:
        upload(client, rows)
    error = raised.value.body
    assert error["message"] == (
        "line 3: messages[1].role: unknown role 'customer'; expected one of assistant, developer, system, tool, user"
    )
    assert (error["param"], error["code"], error["type"]) == ("file", "invalid_file_format", "invalid_request_error")
    broken = training_lines(support_rows(2)) + b'{"messages": [\n'
    with pytest.raises(openai.BadRequestError, match=r"line 3: not valid JSON"):
        client.files.create(file=("t.jsonl", io.BytesIO(broken)), purpose="fine-tune")
    weighted = support_rows(1)
    weighted[0]["messages"][2]["weight"] = 2
    with pytest.raises(openai.BadRequestError, match=r"line 1: messages\[2\]\.weight: weight must be 0 or 1"):
        upload(client, weighted)
    assert FineTuningFile.objects.count() == 0 and Dataset.objects.count() == 0


def test_tools_and_weights_are_accepted_in_supervised_files(openai_client, tiny_base_model):
    client = openai_client()
    tools = [
        {"type": "function", "function": {"name": "order_status", "parameters": {"type": "object", "properties": {}}}}
    ]
    row = {
        "messages": [
            {"role": "user", "content": "Where is order 7?"},
            {
                "role": "assistant",
                "content": None,
                "weight": 0,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "order_status", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
            {"role": "assistant", "content": "It has shipped.", "weight": 1},
        ],
        "tools": tools,
        "parallel_tool_calls": False,
    }
    file = upload(client, [row])
    record = FineTuningFile.objects.get(public_id=file.id).version.entries.get().record
    assert record.tools == tools and record.raw == row and record.line_number == 1
    # The record itself keeps weight 0 (training reads that turn without learning it); 1 is the default, not stored.
    assert [message.get("weight") for message in record.messages] == [None, 0, None, None]
    assert client.files.content(file.id).content == training_lines([row])


def test_a_file_whose_every_answer_has_weight_0_is_refused_with_its_line(openai_client, tiny_base_model):
    client = openai_client()
    rows = support_rows(2)
    for message in rows[1]["messages"]:
        if message["role"] == "assistant":
            message["weight"] = 0
    with pytest.raises(openai.BadRequestError) as raised:
        upload(client, rows)
    message = "line 2: messages: every assistant message has weight 0, so nothing would be learned"
    assert raised.value.body["message"] == message
    assert FineTuningFile.objects.count() == 0 and Dataset.objects.count() == 0


def test_unknown_model_and_another_workspaces_file_are_refused(
    openai_client, tiny_base_model, make_user, other_workspace
):
    client = openai_client()
    training = upload(client, support_rows(4))
    with pytest.raises(openai.BadRequestError) as raised:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    assert raised.value.body["code"] == "model_not_available" and raised.value.body["param"] == "model"
    outsider = openai_client(make_user("outsider", role=Role.ML_ENGINEER, workspace=other_workspace))
    theirs = upload(outsider, support_rows(4))
    with pytest.raises(openai.NotFoundError) as raised:
        client.fine_tuning.jobs.create(model="tiny-chat", training_file=theirs.id)
    assert raised.value.body["param"] == "training_file"
    with pytest.raises(openai.NotFoundError):
        outsider.files.content(training.id)
    with pytest.raises(openai.NotFoundError):
        outsider.fine_tuning.jobs.retrieve("ftjob-0")
    assert FineTuningJob.objects.count() == 0


def test_an_annotators_token_cannot_start_a_job(openai_client, tiny_base_model, make_user, workspace):
    training = upload(openai_client(), support_rows(4))
    annotator = openai_client(make_user("crowd", role=Role.CROWD_ANNOTATOR, workspace=workspace))
    with pytest.raises(openai.PermissionDeniedError):
        annotator.fine_tuning.jobs.create(model="tiny-chat", training_file=training.id)
    with pytest.raises(openai.PermissionDeniedError):
        upload(annotator, support_rows(2))
    assert FineTuningJob.objects.count() == 0 and FineTuningFile.objects.count() == 1


def test_a_job_the_memory_check_refuses_fails_with_our_reason(openai_client, tiny_base_model, settings):
    settings.TRAINING_DEVICE_MEMORY_GB = 0.001
    client = openai_client()
    training = upload(client, support_rows(4))
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=training.id)
    assert job.status == "failed"
    assert job.error.code == "insufficient_memory" and "the training device has" in job.error.message
    assert client.fine_tuning.jobs.list_events(job.id).data[0].level == "error"
    assert TrainingRun.objects.count() == 0


def test_a_user_of_several_workspaces_names_one_with_the_project_header(openai_client, tiny_base_model, make_user,
                                                                        workspace, other_workspace):
    from accounts.services import membership_set

    user = make_user("both", role=Role.ML_ENGINEER, workspace=workspace)
    membership_set(workspace=other_workspace, user=user, role=Role.ML_ENGINEER)
    with pytest.raises(openai.BadRequestError, match="several workspaces"):
        openai_client(user).files.list()
    file = upload(openai_client(user, project="Other team"), support_rows(2))
    assert FineTuningFile.objects.get(public_id=file.id).workspace == other_workspace
    assert [f.id for f in openai_client(user, project=str(other_workspace.pk)).files.list()] == [file.id]
    assert list(openai_client(user, project="Acme support").files.list()) == []
