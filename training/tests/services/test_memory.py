import pytest

from common.errors import ApplicationError
from common.models import HistoryEvent
from training.models import TrainingRun
from training.services.hyperparameters import hyperparameters_clean
from training.services.memory import training_memory_check
from training.services.runs import training_run_create


def test_memory_check_of_the_tiny_model_reads_its_config_and_the_setting(settings, tiny_base_model):
    settings.TRAINING_DEVICE_MEMORY_GB = 16
    clean = hyperparameters_clean(
        values={"per_device_train_batch_size": 2, "max_length": 256}, base_model=tiny_base_model
    )
    check = training_memory_check(base_model=tiny_base_model, method="sft", adapter="lora", hyperparameters=clean)

    # hidden 64, 2 layers, intermediate 128, kv 2 heads of 16, vocab 600, untied.
    parameters = 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128) + 600 * 64 * 2 + 5 * 64
    assert check.estimate.weights == parameters * 2
    assert check.estimate.trainable == 2 * 16 * ((64 + 64) * 2 + (64 + 32) * 2 + (64 + 128) * 2 + (128 + 64)) * 16
    assert check.estimate.activations == 2 * 512 * 64 * 2 + 512 * (12 * 64 + 8 * 128)
    assert check.estimate.logits == 0
    assert (check.device_gib, check.device_source, check.fits) == (16.0, "setting", True)
    assert set(check.as_dict()) == {"parts", "device_gib", "device_source", "fits"}


def test_a_run_that_does_not_fit_is_refused_and_nothing_is_created(settings, workspace, tiny_base_model, sft_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 0.5  # below the runtime context alone

    with pytest.raises(ApplicationError) as error:
        training_run_create(
            workspace=workspace, name="too big", base_model=tiny_base_model, dataset_version=sft_version
        )

    assert error.value.where == "memory"
    assert error.value.code == "memory"
    assert "training device has 0.50 GiB" in error.value.message
    assert TrainingRun.objects.count() == 0
    assert not HistoryEvent.objects.filter(target_type="training.trainingrun").exists()


def test_override_launches_it_and_records_that_it_was_overridden(settings, workspace, tiny_base_model, sft_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 0.5

    run = training_run_create(
        workspace=workspace,
        name="too big",
        base_model=tiny_base_model,
        dataset_version=sft_version,
        override_memory=True,
    )

    assert run.memory_override is True
    assert run.memory_estimate["fits"] is False
    assert run.memory_estimate["device_gib"] == 0.5
    assert run.memory_estimate["parts"]["total"] > 0.75


def test_a_run_that_fits_stores_its_estimate(settings, workspace, tiny_base_model, sft_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 16
    run = training_run_create(
        workspace=workspace, name="small", base_model=tiny_base_model, dataset_version=sft_version
    )
    assert run.memory_override is False
    assert run.memory_estimate["fits"] is True
