import pytest
from django_tasks_db.models import DBTaskResult

from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import DatasetVersion, Record
from datahub.services.datasets import dataset_create
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_create
from training.models import TrainingRun
from training.services.hyperparameters import hyperparameter_defaults
from training.services.runs import (
    training_run_cancel,
    training_run_create,
    training_run_finish,
    training_run_retry,
    training_run_start,
)


def history(run) -> list[str]:
    events = HistoryEvent.objects.filter(target_type="training.trainingrun", target_id=run.pk).order_by("pk")
    return list(events.values_list("verb", flat=True))


def create(workspace, base_model, version, **overrides):
    values = {"workspace": workspace, "name": "first run", "base_model": base_model, "dataset_version": version}
    return training_run_create(**{**values, **overrides})


def test_create_fills_defaults_and_queues_the_job_on_commit(workspace, users, tiny_base_model, sft_version,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = create(workspace, tiny_base_model, sft_version, hyperparameters={"learning_rate": 5e-5, "max_steps": 3},
                     created_by=users["ml_engineer"])

    assert run.status == TrainingRun.Status.QUEUED
    assert run.output_dir == f"workspaces/{run.workspace_id}/runs/{run.pk}"
    # The tiny model was built for 512 positions, so the default max_length is capped there.
    assert run.hyperparameters == {
        **hyperparameter_defaults(),
        "learning_rate": 5e-5,
        "max_steps": 3,
        "max_length": 512,
    }
    job = DBTaskResult.objects.get()
    assert (job.task_path, job.queue_name, job.args_kwargs) == (
        "training.tasks.training_run_supervise_task", "gpu", {"args": [], "kwargs": {"run_id": run.pk}})
    assert history(run) == ["created"]


def test_create_enqueues_nothing_before_commit(
    workspace, tiny_base_model, sft_version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        create(workspace, tiny_base_model, sft_version)
    assert len(callbacks) == 1
    assert DBTaskResult.objects.count() == 0


def test_create_refuses_a_base_model_of_another_workspace(workspace, other_workspace, sft_version, tiny_model_dir):
    from training.services.base_models import base_model_register

    foreign = base_model_register(workspace=other_workspace, name="theirs", path=str(tiny_model_dir))
    with pytest.raises(ApplicationError) as error:
        create(workspace, foreign, sft_version)
    assert (error.value.message, error.value.where) == ("unknown base model", "base_model")
    assert TrainingRun.objects.count() == 0


def test_create_refuses_a_version_without_train_rows(workspace, tiny_base_model):
    dataset = dataset_create(workspace=workspace, name="held out")
    records_bulk_create(dataset=dataset, rows=[{"messages": [{"role": "user", "content": "hi"},
                                                             {"role": "assistant", "content": "hello"}]}])
    record = Record.objects.get(dataset=dataset)
    version = dataset_version_create(
        dataset=dataset, entries=[(record.pk, "test", [])], operation=DatasetVersion.Operation.FREEZE
    )

    with pytest.raises(ApplicationError) as error:
        create(workspace, tiny_base_model, version)
    assert (error.value.message, error.value.where) == (
        "dataset version held out v1 has no train rows",
        "dataset_version",
    )


def test_create_refuses_preference_records_for_sft(workspace, tiny_base_model):
    dataset = dataset_create(workspace=workspace, name="prefs")
    records_bulk_create(dataset=dataset, rows=[{"kind": "preference", "messages": [{"role": "user", "content": "hi"}],
                                                "chosen": {"role": "assistant", "content": "hello"},
                                                "rejected": {"role": "assistant", "content": "go away"}}])
    version = dataset_version_create(dataset=dataset, entries=[(Record.objects.get(dataset=dataset).pk, "train", [])],
                                     operation=DatasetVersion.Operation.FREEZE)
    with pytest.raises(
        ApplicationError,
        match=r"SFT trains on Conversation \(SFT\) records, but the train split of dataset version "
        r"prefs v1 holds 1 records of another kind",
    ):
        create(workspace, tiny_base_model, version)


@pytest.mark.parametrize(
    ("overrides", "message", "where"),
    [
        (
            {"method": "dpo"},
            "DPO trains on Preference (DPO) records, but the train split of dataset version support v1 holds 10 records "
            "of another kind",
            "dataset_version",
        ),
        ({"method": "ppo"}, "unknown method 'ppo'", "method"),
        ({"adapter": "ia3"}, "unknown adapter 'ia3'", "adapter"),
        ({"name": "  "}, "a run needs a name", "name"),
        (
            {"hyperparameters": {"learning_rte": 1e-4}},
            "unknown hyperparameter 'learning_rte'; known: learning_rate, num_train_epochs, "
            "max_steps, per_device_train_batch_size, gradient_accumulation_steps, lora_r, lora_alpha, "
            "lora_target_modules, use_dora, use_rslora, max_length, logging_steps, "
            "eval_steps, save_steps, seed, beta, num_generations, max_completion_length, temperature, kl_beta, "
            "loss_type, prompt_tuning_virtual_tokens, trainable_layers, trainable_modules, padding_free, packing, "
            "assistant_only_loss, keep_system_prompt, keep_reasoning",
            "hyperparameters.learning_rte",
        ),
        (
            {"hyperparameters": {"learning_rate": 0.5}},
            "learning_rate must be between 1e-07 and 0.01, not 0.5",
            "hyperparameters.learning_rate",
        ),
        ({"hyperparameters": {"lora_r": 8.5}}, "lora_r must be a whole number, not 8.5", "hyperparameters.lora_r"),
        ({"hyperparameters": {"lora_r": True}}, "lora_r must be a number, not True", "hyperparameters.lora_r"),
        (
            {"hyperparameters": {"max_steps": 0}},
            "max_steps must be positive, or -1 to run all epochs",
            "hyperparameters.max_steps",
        ),
        (
            {"hyperparameters": {"max_length": 2048}},
            "max_length 2048 is longer than the 512 tokens base model 'tiny-chat' was built for",
            "hyperparameters.max_length",
        ),
    ],
)
def test_create_refuses_bad_input_naming_the_field(workspace, tiny_base_model, sft_version, overrides, message, where):
    with pytest.raises(ApplicationError) as error:
        create(workspace, tiny_base_model, sft_version, **overrides)
    assert (error.value.message, error.value.where) == (message, where)
    assert TrainingRun.objects.count() == 0


def test_cancel_a_queued_run_finishes_it_at_once(workspace, users, tiny_base_model, sft_version):
    run = create(workspace, tiny_base_model, sft_version)
    run = training_run_cancel(run=run, cancelled_by=users["ml_engineer"])
    assert (run.status, run.cancel_requested) == (TrainingRun.Status.CANCELLED, True)
    assert run.finished_at is not None
    assert history(run) == ["created", "cancelled"]
    # The job, when it comes, leaves it alone.
    assert training_run_start(run=run) is None


def test_cancel_a_running_run_asks_the_job_once(workspace, tiny_base_model, sft_version):
    run = training_run_start(run=create(workspace, tiny_base_model, sft_version))
    run = training_run_cancel(run=run)
    again = training_run_cancel(run=run)
    assert (again.status, again.cancel_requested) == (TrainingRun.Status.RUNNING, True)
    assert history(run) == ["created", "started", "cancel_requested"]


def test_cancel_a_finished_run_is_refused(workspace, tiny_base_model, sft_version):
    run = training_run_start(run=create(workspace, tiny_base_model, sft_version))
    training_run_finish(run=run, status=TrainingRun.Status.FAILED, error="boom")
    with pytest.raises(ApplicationError) as error:
        training_run_cancel(run=run)
    assert (error.value.message, error.value.code) == ("run 'first run' has already finished (failed)", "conflict")
    assert history(run) == ["created", "started", "failed"]


@pytest.mark.parametrize("adapter", ["full", "lora", "qlora", "prompt_tuning"])
def test_create_accepts_every_adapter(workspace, tiny_base_model, sft_version, adapter):
    assert create(workspace, tiny_base_model, sft_version, adapter=adapter).adapter == adapter


def test_create_dpo_on_preference_pairs_and_kto_on_likes(workspace, tiny_base_model, preference_version, kto_version):
    dpo = create(workspace, tiny_base_model, preference_version, name="dpo", method="dpo")
    kto = create(workspace, tiny_base_model, kto_version, name="kto", method="kto")
    assert (dpo.method, kto.method) == ("dpo", "kto")


def test_create_refuses_kto_with_batches_of_one_and_packing_for_dpo(
    workspace, tiny_base_model, preference_version, kto_version
):
    with pytest.raises(ApplicationError) as error:
        create(
            workspace, tiny_base_model, kto_version, method="kto", hyperparameters={"per_device_train_batch_size": 1}
        )
    assert error.value.where == "hyperparameters.per_device_train_batch_size"
    with pytest.raises(ApplicationError) as error:
        create(workspace, tiny_base_model, preference_version, method="dpo", hyperparameters={"packing": True})
    assert (error.value.message, error.value.where) == (
        "packing is for SFT; DPO and KTO keep each pair whole",
        "hyperparameters.packing",
    )
    assert TrainingRun.objects.count() == 0


def test_create_refuses_packing_with_prompt_tuning(workspace, tiny_base_model, sft_version):
    with pytest.raises(ApplicationError) as error:
        create(workspace, tiny_base_model, sft_version, adapter="prompt_tuning", hyperparameters={"packing": True})
    assert (error.value.message, error.value.where) == (
        "packing needs each conversation's own position ids, which Prompt tuning ignores", "hyperparameters.packing")
    assert TrainingRun.objects.count() == 0


def test_retry_copies_the_settings_edits_hyperparameters_and_links_the_parent(
    workspace, tiny_base_model, sft_version, users
):
    run = create(
        workspace, tiny_base_model, sft_version, adapter="qlora", hyperparameters={"lora_r": 8, "max_steps": 5}
    )
    with pytest.raises(ApplicationError) as error:
        training_run_retry(run=run)
    assert error.value.code == "conflict"
    run = training_run_cancel(run=run)

    retry = training_run_retry(run=run, hyperparameters={"learning_rate": 5e-5}, created_by=users["ml_engineer"])

    assert (retry.parent, retry.resume_from, retry.name, retry.adapter) == (run, None, "first run (retry)", "qlora")
    assert (
        retry.hyperparameters["lora_r"],
        retry.hyperparameters["max_steps"],
        retry.hyperparameters["learning_rate"],
    ) == (8, 5, 5e-5)
    assert list(run.children.all()) == [retry]


def test_resume_needs_a_checkpoint_and_an_unfinished_run(workspace, tiny_base_model, sft_version):
    run = create(workspace, tiny_base_model, sft_version)
    run = training_run_cancel(run=run)
    with pytest.raises(ApplicationError) as error:
        training_run_retry(run=run, resume=True)
    assert (error.value.message, error.value.where) == ("run 'first run' left no checkpoint to resume from", "resume")

    done = training_run_finish(run=training_run_start(run=create(workspace, tiny_base_model, sft_version, name="done")),
                               status=TrainingRun.Status.SUCCEEDED)
    with pytest.raises(ApplicationError, match="only a cancelled or failed run is resumed"):
        training_run_retry(run=done, resume=True)
    assert TrainingRun.objects.count() == 2
