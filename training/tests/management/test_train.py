import pytest
from django.core.management import CommandError, call_command

from training.models import ModelArtifact, TrainingRun


def test_train_queues_a_run(tiny_base_model, sft_version, capsys):
    call_command("train", workspace="Acme support", base_model="tiny-chat", dataset="support", version=1, name="cli",
                 set=["learning_rate=5e-5", "max_steps=3"])
    run = TrainingRun.objects.get()
    assert (run.status, run.hyperparameters["learning_rate"], run.hyperparameters["max_steps"]) == ("queued", 5e-5, 3)
    assert capsys.readouterr().out.startswith(f"run {run.pk} 'cli' queued: tiny-chat on support v1, ")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_train_now_trains_here_and_reports(tiny_base_model, sft_version, capsys):
    call_command("train", workspace="Acme support", base_model="tiny-chat", dataset="support", version=1, name="cli", now=True,
                 set=["max_steps=2", "logging_steps=1", "per_device_train_batch_size=5", "gradient_accumulation_steps=1"])
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert ModelArtifact.objects.get().run == run
    assert f"run {run.pk} succeeded; " in capsys.readouterr().out


@pytest.mark.parametrize(("options", "message"), [
    ({"workspace": "Nowhere"}, "--workspace: no workspace named 'Nowhere'"),
    ({"base_model": "gpt-9"}, "--base-model: no base model named 'gpt-9' in workspace 'Acme support'"),
    ({"version": 7}, "--dataset/--version: no version 7 of a dataset named 'support' in workspace 'Acme support'"),
    ({"set": ["lora_r"]}, "--set: expected name=value, not 'lora_r'"),
    ({"set": ["lora_r=big"]}, "--set lora_r: 'big' is not a number"),
    ({"set": ["lora_r=0"]}, "--set lora_r: lora_r must be between 1 and 1024, not 0"),
    ({"name": " "}, "--name: a run needs a name"),
])
def test_train_bad_input_names_the_option(tiny_base_model, sft_version, options, message):
    values = {"workspace": "Acme support", "base_model": "tiny-chat", "dataset": "support", "version": 1, "name": "cli", **options}
    with pytest.raises(CommandError) as error:
        call_command("train", **values)
    assert str(error.value) == message
    assert TrainingRun.objects.count() == 0
