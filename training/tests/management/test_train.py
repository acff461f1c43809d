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
    call_command(
        "train",
        workspace="Acme support",
        base_model="tiny-chat",
        dataset="support",
        version=1,
        name="cli",
        now=True,
        set=["max_steps=2", "logging_steps=1", "per_device_train_batch_size=5", "gradient_accumulation_steps=1"],
    )
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
    values = {
        "workspace": "Acme support",
        "base_model": "tiny-chat",
        "dataset": "support",
        "version": 1,
        "name": "cli",
        **options,
    }
    with pytest.raises(CommandError) as error:
        call_command("train", **values)
    assert str(error.value) == message
    assert TrainingRun.objects.count() == 0


def test_train_prints_the_memory_estimate_and_refuses_what_does_not_fit(tiny_base_model, sft_version, settings, capsys):
    settings.TRAINING_DEVICE_MEMORY_GB = 0.5
    values = {"workspace": "Acme support", "base_model": "tiny-chat", "dataset": "support", "version": 1, "name": "cli"}
    with pytest.raises(
        CommandError, match=r"^--override-memory: the run needs about .* but the training device has 0.50 GiB"
    ):
        call_command("train", **values)
    assert TrainingRun.objects.count() == 0

    call_command("train", **values, override_memory=True, adapter="qlora", set=["packing=true"])
    run = TrainingRun.objects.get()
    assert (run.adapter, run.hyperparameters["packing"], run.memory_override) == ("qlora", True, True)
    assert (
        f"memory estimate {run.memory_estimate['parts']['total']} GiB of 0.5 GiB (weights " in capsys.readouterr().out
    )


def test_train_queues_dpo(tiny_base_model, preference_version):
    call_command(
        "train",
        workspace="Acme support",
        base_model="tiny-chat",
        dataset="support preferences",
        version=1,
        name="dpo",
        method="dpo",
    )
    assert TrainingRun.objects.get().method == "dpo"


def test_train_recommend_prints_each_setting_with_its_reason_and_launches_nothing(tiny_base_model, sft_version,
                                                                                   settings, capsys):
    settings.TRAINING_DEVICE_MEMORY_GB = 24
    call_command("train", workspace="Acme support", base_model="tiny-chat", dataset="support", version=1,
                 recommend=True, goal="style", set=["lora_r=64"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("tiny-chat on support v1: 10 train records, 2 validation, p95 ")
    assert out[1].split() == ["goal", '"style"', "chosen", "by", "you"]
    assert out[2].startswith('  adapter                      "prefix_tuning" 10 style examples → P-tuning v2')
    assert "warning: rank 64 is high for 10 records: the adapter can memorise them; 8–16 is enough" in out
    assert out[-1].startswith("to launch: --adapter prefix_tuning --set prompt_tuning_virtual_tokens=20 "
                              "--set learning_rate=0.005 --set num_train_epochs=5.0 ")
    assert TrainingRun.objects.count() == 0


def test_train_without_a_name_or_recommend_names_the_option(tiny_base_model, sft_version):
    with pytest.raises(CommandError, match="^--name: a run needs a name$"):
        call_command("train", workspace="Acme support", base_model="tiny-chat", dataset="support", version=1)
