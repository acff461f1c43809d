"""How the job starts the runner: one Python process, or `accelerate launch` with one process per GPU.

Data-parallel training on several GPUs needs one process per device and a rendezvous between them; accelerate's
launcher does both and sets the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_PORT) the Trainer reads. The
runner itself does not change: the Trainer shards batches, PlatformCallback writes from the main process only and
every process obeys CANCEL.
"""

import os
import socket
import sys
from pathlib import Path

from django.conf import settings

GPUS_ENV = "WHETSTONE_TRAINING_GPUS"


def training_gpu_count() -> int:
    """GPUs a run trains on: the TRAINING_GPUS setting (or the WHETSTONE_TRAINING_GPUS environment variable) when
    set, else every CUDA device this worker sees (CUDA_VISIBLE_DEVICES narrows that); 0 on a machine without one.
    A request for more GPUs than there are is capped at what there is."""
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    requested = getattr(settings, "TRAINING_GPUS", None) or os.environ.get(GPUS_ENV) or None
    if requested is None:
        return available
    return max(0, min(int(requested), available))


def free_port() -> int:
    """A TCP port free on this machine now, for the processes' rendezvous: two runs on one machine must not share
    one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def runner_command(*, config_path: Path, data_dir: Path, out_dir: Path, gpus: int, port: int | None = None,
                   python: str = sys.executable) -> list[str]:
    """The runner's command line: `python -m training.runner ...` for 0 or 1 GPU; for 2 or more,
    `python -m accelerate.commands.launch --multi_gpu --num_processes <gpus> ... -m training.runner ...` (accelerate
    run from the same interpreter, so the same environment trains). `port` is the rendezvous port (a free one if None).
    """
    runner = ["-m", "training.runner", "--config", str(config_path), "--data", str(data_dir), "--out", str(out_dir)]
    if gpus <= 1:
        return [python, *runner]
    return [
        python,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(gpus),
        "--num_machines",
        "1",
        "--main_process_port",
        str(port if port is not None else free_port()),
        *runner,
    ]
