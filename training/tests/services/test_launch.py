"""The runner's command line: one process, or accelerate with one process per GPU."""

import socket
import sys
from pathlib import Path

import pytest
import torch

from training.models import TrainingRun
from training.services.execution import training_run_supervise
from training.services.launch import free_port, runner_command, training_gpu_count
from training.services.runs import training_run_create

PATHS = {"config_path": Path("/runs/7/config.json"), "data_dir": Path("/runs/7/data"), "out_dir": Path("/runs/7")}
RUNNER = ["-m", "training.runner", "--config", "/runs/7/config.json", "--data", "/runs/7/data", "--out", "/runs/7"]
GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.parametrize("gpus", [0, 1])
def test_no_gpu_or_one_gpu_runs_the_runner_alone(gpus):
    assert runner_command(**PATHS, gpus=gpus, python="/venv/bin/python") == ["/venv/bin/python", *RUNNER]


def test_several_gpus_launch_one_process_each_through_accelerate():
    assert runner_command(**PATHS, gpus=4, port=29611, python="/venv/bin/python") == [
        "/venv/bin/python",
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "4",
        "--num_machines",
        "1",
        "--main_process_port",
        "29611",
        *RUNNER,
    ]


def test_without_a_port_a_free_one_is_chosen():
    command = runner_command(**PATHS, gpus=2)
    assert command[0] == sys.executable
    port = int(command[command.index("--main_process_port") + 1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    assert 0 < free_port() < 65536


def test_gpu_count_is_what_is_requested_capped_at_what_there_is(settings, monkeypatch):
    monkeypatch.delenv("WHETSTONE_TRAINING_GPUS", raising=False)
    settings.TRAINING_GPUS = None
    assert training_gpu_count() == GPUS
    settings.TRAINING_GPUS = 8
    assert training_gpu_count() == min(8, GPUS)
    settings.TRAINING_GPUS = None
    monkeypatch.setenv("WHETSTONE_TRAINING_GPUS", "1")
    assert training_gpu_count() == min(1, GPUS)


@pytest.mark.slow
@pytest.mark.skipif(GPUS < 2, reason="needs two or more CUDA devices")
@pytest.mark.django_db(transaction=True)
def test_a_run_trains_on_every_gpu_through_accelerate(workspace, tiny_base_model, sft_version, settings):
    run = training_run_create(
        workspace=workspace,
        name="multi-gpu",
        base_model=tiny_base_model,
        dataset_version=sft_version,
        hyperparameters={
            "max_steps": 2,
            "logging_steps": 1,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "max_length": 128,
        },
    )

    run = training_run_supervise(run=run)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    log = (Path(settings.STORAGE_ROOT) / run.output_dir / "log.txt").read_text()
    assert run.artifact.path == f"{run.output_dir}/adapter"
    assert "Traceback" not in log
