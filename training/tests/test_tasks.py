"""The training job end to end through the real database worker and the real runner subprocess."""

import shutil
import threading
import time

import pytest
from django.db import connection

from common.models import HistoryEvent
from training.models import Checkpoint, MetricPoint, ModelArtifact, TrainingRun
from training.services.base_models import base_model_register
from training.services.generation import generate_replies
from training.services.runs import training_run_cancel, training_run_create, training_run_retry

# The worker commits and closes connections as a real one does, so these tests run outside a wrapping transaction.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUICK = {
    "max_steps": 4,
    "logging_steps": 1,
    "eval_steps": 2,
    "per_device_train_batch_size": 5,
    "gradient_accumulation_steps": 1,
    "learning_rate": 5e-3,
    "max_length": 128,
}


def history(run) -> list[str]:
    events = HistoryEvent.objects.filter(target_type="training.trainingrun", target_id=run.pk).order_by("pk")
    return list(events.values_list("verb", flat=True))


def launch(workspace, base_model, version, **hyperparameters):
    return training_run_create(workspace=workspace, name="quick", base_model=base_model, dataset_version=version,
                               hyperparameters={**QUICK, **hyperparameters})


def test_job_trains_streams_metrics_and_registers_the_adapter(
    workspace, tiny_base_model, sft_version, run_jobs, settings
):
    run = launch(workspace, tiny_base_model, sft_version)

    run_jobs()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert (run.progress, run.error) == (1.0, "")
    assert run.started_at <= run.heartbeat_at <= run.finished_at
    points = list(MetricPoint.objects.filter(run=run))
    # loss at steps 1-4, eval_loss at 2 and 4, the closing summary.
    assert [p.step for p in points if "loss" in p.values] == [1, 2, 3, 4]
    assert [p.step for p in points if "eval_loss" in p.values] == [2, 4]
    assert [p.step for p in points if "train_loss" in p.values] == [4]
    assert len(points) == 7
    assert points[0].epoch == 0.5
    artifact = ModelArtifact.objects.get()
    assert (artifact.run, artifact.base_model, artifact.dataset_version, artifact.kind, artifact.path) == (
        run, tiny_base_model, sft_version, ModelArtifact.Kind.ADAPTER, f"{run.output_dir}/adapter")
    replies = generate_replies(
        base_model=tiny_base_model,
        artifact=artifact,
        conversations=[[{"role": "user", "content": "我想退货。"}]],
        max_new_tokens=6,
    )
    assert len(replies) == 1 and isinstance(replies[0], str)
    run_dir = settings.STORAGE_ROOT / run.output_dir
    assert (run_dir / "data" / "train.jsonl").read_text().count("\n") == 10
    assert (run_dir / "data" / "validation.jsonl").read_text().count("\n") == 2
    assert history(run) == ["created", "started", "succeeded"]


def test_job_with_a_broken_base_model_fails_with_the_reason(workspace, tiny_model_dir, sft_version, run_jobs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    base_model = base_model_register(workspace=workspace, name="fragile", path=str(copy))
    run = launch(workspace, base_model, sft_version)
    shutil.rmtree(copy)

    run_jobs()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    reason, _, log_tail = run.error.partition("\n\n")
    assert reason == f"FileNotFoundError: no config.json in {copy}"
    assert log_tail.splitlines()[-1] == f"FileNotFoundError: no config.json in {copy}"
    assert ModelArtifact.objects.count() == 0
    assert history(run) == ["created", "started", "failed"]


def test_job_skips_a_run_cancelled_while_queued(workspace, tiny_base_model, sft_version, run_jobs):
    run = launch(workspace, tiny_base_model, sft_version)
    training_run_cancel(run=run)

    run_jobs()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert MetricPoint.objects.count() == 0
    assert history(run) == ["created", "cancelled"]


@pytest.mark.postgres
def test_cancel_while_running_stops_the_runner_and_keeps_its_adapter(
    workspace, tiny_base_model, sft_version, run_jobs, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("the worker thread and the test share the database only on PostgreSQL")
    run = launch(workspace, tiny_base_model, sft_version, max_steps=100_000, eval_steps=100_000)

    def cancel_once_training():
        # Another thread, with its own connection, plays the user: the worker needs the main thread for its signals.
        try:
            deadline = time.monotonic() + 120
            while not MetricPoint.objects.filter(run_id=run.pk).exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            training_run_cancel(run=TrainingRun.objects.get(pk=run.pk))
        finally:
            connection.close()

    user = threading.Thread(target=cancel_once_training)
    user.start()
    run_jobs()
    user.join()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED, run.error
    assert 0 < run.progress < 1
    run_dir = settings.STORAGE_ROOT / run.output_dir
    assert (run_dir / "CANCEL").exists()
    assert any((run_dir / "checkpoints").glob("checkpoint-*/adapter_config.json"))
    artifact = ModelArtifact.objects.get(run=run)
    assert (artifact.path, artifact.is_partial) == (f"{run.output_dir}/adapter", True)
    assert history(run) == ["created", "started", "cancel_requested", "cancelled"]

    # Resume: a new run, linked to the cancelled one, continues from its checkpoint for two more steps.
    checkpoint = Checkpoint.objects.get(run=run)
    assert checkpoint.path == f"{run.output_dir}/checkpoints/checkpoint-{checkpoint.step}"
    resumed = training_run_retry(run=run, resume=True, hyperparameters={"max_steps": checkpoint.step + 2})
    assert (resumed.parent, resumed.resume_from, resumed.name) == (
        run,
        checkpoint,
        f"quick (resumed at step {checkpoint.step})",
    )
    run_jobs()
    resumed.refresh_from_db()
    assert resumed.status == TrainingRun.Status.SUCCEEDED, resumed.error
    assert [p.step for p in MetricPoint.objects.filter(run=resumed) if "loss" in p.values] == [
        checkpoint.step + 1,
        checkpoint.step + 2,
    ]
    assert ModelArtifact.objects.get(run=resumed).is_partial is False


def test_job_trains_dpo_streams_rewards_and_registers_the_adapter(
    workspace, tiny_base_model, preference_version, run_jobs
):
    run = training_run_create(
        workspace=workspace,
        name="dpo",
        base_model=tiny_base_model,
        dataset_version=preference_version,
        method="dpo",
        hyperparameters={**QUICK, "max_steps": 2, "eval_steps": 2},
    )

    run_jobs()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    train = [p.values for p in MetricPoint.objects.filter(run=run) if "loss" in p.values]
    assert len(train) == 2
    assert {"rewards/accuracies", "rewards/margins"} <= set(train[0])
    artifact = ModelArtifact.objects.get(run=run)
    assert (artifact.kind, artifact.path) == (ModelArtifact.Kind.ADAPTER, f"{run.output_dir}/adapter")

