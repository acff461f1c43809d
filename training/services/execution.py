"""Running a queued run: export its data, start the Django-free runner in a subprocess, and watch it.

The run directory (under the storage root, `run.output_dir`) holds everything of one run:
    data/train.jsonl, data/validation.jsonl   the dataset version's splits, in TRL's format
    config.json                               training.runner.config.RunConfig
    log.txt                                   the runner's stdout and stderr
    metrics.jsonl, progress.json, CANCEL      the runner's links to the platform (training.runner.callbacks)
    warnings.jsonl                            what the runner and TRL warned about the data (training.runner.notices)
    adapter/ (or model/), checkpoints/, result.json   what the runner leaves
While the runner works, the job ingests metrics, beats the heartbeat and passes a cancel on, about every second.
"""

import json
import logging
import os
import signal
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from datahub.export import version_export_jsonl
from training.models import Checkpoint, MetricPoint, ModelArtifact, TrainingRun
from training.runner.config import RunConfig
from training.runner.files import (
    ADAPTER_DIR,
    CANCEL_FILE,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    ERROR_FILE,
    METRICS_FILE,
    MODEL_DIR,
    PROGRESS_FILE,
    RESULT_FILE,
    WARNINGS_FILE,
)
from training.services.artifacts import model_artifact_register
from training.services.base_models import base_model_directory, model_directory
from training.services.launch import runner_command, training_gpu_count
from training.services.probes import training_run_probes_answer
from training.services.runs import training_run_finish, training_run_heartbeat, training_run_start

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# A job beats every POLL_SECONDS; one silent for this long has lost its worker.
STALE_AFTER = timedelta(minutes=5)
LOG_FILE = "log.txt"
LOG_TAIL_LINES = 20


def run_directory(run: TrainingRun) -> Path:
    return Path(settings.STORAGE_ROOT) / (run.output_dir or f"runs/{run.pk}")


def log_tail(path: Path, *, lines: int = LOG_TAIL_LINES, max_bytes: int = 64 * 1024) -> str:
    """The last `lines` lines of a text file (reading at most `max_bytes` from its end); "" when there is none."""
    if not path.is_file():
        return ""
    with open(path, "rb") as log:
        log.seek(0, os.SEEK_END)
        size = log.tell()
        log.seek(max(0, size - max_bytes))
        text = log.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class MetricsTail:
    """Reads the lines appended to metrics.jsonl since the last call; a half-written last line waits for the next."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def new_lines(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as metrics:
            metrics.seek(self.offset)
            chunk = metrics.read()
        complete = chunk.rfind(b"\n") + 1
        self.offset += complete
        rows = []
        for line in chunk[:complete].splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("skipping a malformed metrics line in %s", self.path)
        return rows


def metric_points_ingest(*, run: TrainingRun, rows: list[dict]) -> int:
    points = [
        MetricPoint(
            run=run, step=max(0, int(row.get("step") or 0)), epoch=row.get("epoch"), values=row.get("values") or {}
        )
        for row in rows
    ]
    MetricPoint.objects.bulk_create(points)
    return len(points)


def _progress(run_dir: Path) -> float | None:
    try:
        progress = json.loads((run_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if progress.get("max_steps"):
        return progress["step"] / progress["max_steps"]
    return None


def run_warnings_ingest(*, run: TrainingRun, run_dir: Path) -> list[dict]:
    """Store what the runner warned about the data (its warnings.jsonl: TRL's warnings and its own) on the run, for the
    run page; returns them. A half-written last line waits for the next call."""
    path = run_dir / WARNINGS_FILE
    if not path.is_file():
        return run.warnings
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            break
    if found != run.warnings:
        run.warnings = found
        TrainingRun.objects.filter(pk=run.pk).update(warnings=found)
    return found


def _runner_environment() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.BASE_DIR), env.get("PYTHONPATH")]))
    env["HF_HUB_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _failure_reason(run_dir: Path, code: int) -> str:
    try:
        reason = json.loads((run_dir / ERROR_FILE).read_text(encoding="utf-8"))["error"]
    except (OSError, json.JSONDecodeError, KeyError):
        reason = f"the runner exited with code {code}"
    tail = log_tail(run_dir / LOG_FILE)
    return f"{reason}\n\n{tail}" if tail else reason


def checkpoints_record(*, run: TrainingRun) -> list[Checkpoint]:
    """Record the resumable checkpoints the run left on disk (the Trainer's checkpoint-<step> directories), oldest
    first.

    Idempotent: a checkpoint already recorded is not recorded again; one the Trainer rotated away is forgotten.
    """
    root = run_directory(run) / CHECKPOINTS_DIR
    found = {}
    if root.is_dir():
        for directory in root.glob("checkpoint-*"):
            step = directory.name.removeprefix("checkpoint-")
            if step.isdigit() and (directory / "trainer_state.json").is_file():
                found[int(step)] = f"{run.output_dir}/{CHECKPOINTS_DIR}/{directory.name}"
    Checkpoint.objects.filter(run=run).exclude(step__in=found).delete()
    known = set(Checkpoint.objects.filter(run=run).values_list("step", flat=True))
    Checkpoint.objects.bulk_create(
        [Checkpoint(run=run, step=step, path=path) for step, path in found.items() if step not in known]
    )
    return list(Checkpoint.objects.filter(run=run).order_by("step"))


def runner_prepare(*, run: TrainingRun, run_dir: Path) -> list[str]:
    """Write the run's data and config; return the runner's command line."""
    data_dir = run_dir / "data"
    version_export_jsonl(run.dataset_version, split="train", path=data_dir / "train.jsonl")
    version_export_jsonl(run.dataset_version, split="validation", path=data_dir / "validation.jsonl")
    resume = str(model_directory(run.resume_from.path)) if run.resume_from_id else None
    # A template that writes today's date writes the day the run was launched, as its preview showed.
    config = RunConfig(
        base_model_path=str(base_model_directory(run.base_model)),
        method=run.method,
        adapter=run.adapter,
        resume_from_checkpoint=resume,
        template_date=timezone.localdate(run.created_at).isoformat(),
        reward_graders=run.reward_graders,
        **run.hyperparameters,
    )
    config.to_json(run_dir / CONFIG_FILE)
    # One process per GPU through accelerate when there are several; otherwise the runner alone.
    return runner_command(
        config_path=run_dir / CONFIG_FILE, data_dir=data_dir, out_dir=run_dir, gpus=training_gpu_count()
    )


def runner_watch(*, run: TrainingRun, run_dir: Path, command: list[str], poll_seconds: float,
                 on_poll: Callable[[float | None, list[dict]], None] | None = None) -> int:
    """Run the runner to its end, streaming its metrics into the database; return its exit code.

    `on_poll(progress, new_metric_lines)`, when given, hears each poll (a command prints progress with it).
    """
    metrics = MetricsTail(run_dir / METRICS_FILE)
    with open(run_dir / LOG_FILE, "ab") as log:
        # A session of its own, so that stopping it stops every process accelerate started too.
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=_runner_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                try:
                    code = process.wait(timeout=poll_seconds)
                except subprocess.TimeoutExpired:
                    code = None
                rows = metrics.new_lines()
                metric_points_ingest(run=run, rows=rows)
                run_warnings_ingest(run=run, run_dir=run_dir)
                progress = _progress(run_dir)
                cancel_requested = training_run_heartbeat(run=run, progress=progress)
                if on_poll is not None:
                    on_poll(progress, rows)
                if cancel_requested:
                    (run_dir / CANCEL_FILE).touch()
                if code is not None:
                    return code
        finally:
            # Whatever went wrong here, no runner outlives its job.
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()


def training_run_supervise(*, run: TrainingRun, poll_seconds: float = POLL_SECONDS,
                           on_poll: Callable[[float | None, list[dict]], None] | None = None) -> TrainingRun:
    """Train a queued run to its end and record the outcome; a run that is not queued is left alone.

    Never leaves the run "running": any failure, in the runner or here, finishes it as failed with the reason; a
    worker being stopped (SystemExit, KeyboardInterrupt) does too, and then stops.
    """
    started = training_run_start(run=run)
    if started is None:
        run.refresh_from_db()
        return run
    run = started
    run_dir = run_directory(run)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        # The base model answers the probe set before training, the trained one after it (same settings).
        run = training_run_probes_answer(run=run, stage="base")
        command = runner_prepare(run=run, run_dir=run_dir)
        code = runner_watch(run=run, run_dir=run_dir, command=command, poll_seconds=poll_seconds, on_poll=on_poll)
        run.refresh_from_db()
        checkpoints_record(run=run)
        if code != 0:
            return training_run_finish(run=run, status=TrainingRun.Status.FAILED, error=_failure_reason(run_dir, code))
        result = json.loads((run_dir / RESULT_FILE).read_text(encoding="utf-8"))
        kind = ModelArtifact.Kind.FULL if result.get("artifact_kind") == "full" else ModelArtifact.Kind.ADAPTER
        cancelled = run.cancel_requested or result.get("cancelled", False)
        # A cancelled run keeps what it learned, registered but marked partial: it can be tried, compared or
        # resumed, and nobody mistakes it for a finished model.
        model_artifact_register(
            run=run,
            path=f"{run.output_dir}/{MODEL_DIR if kind == ModelArtifact.Kind.FULL else ADAPTER_DIR}",
            kind=kind,
            is_partial=cancelled,
        )
        run = training_run_probes_answer(run=run, stage="trained")
        return training_run_finish(
            run=run, status=TrainingRun.Status.CANCELLED if cancelled else TrainingRun.Status.SUCCEEDED
        )
    except BaseException as error:
        logger.exception("training run %s failed in its job", run.pk)
        run.refresh_from_db()
        if run.status == TrainingRun.Status.RUNNING:
            reason = (
                f"{type(error).__name__}: {error}"
                if isinstance(error, Exception)
                else "the worker was stopped during the run"
            )
            run = training_run_finish(run=run, status=TrainingRun.Status.FAILED, error=reason)
        if not isinstance(error, Exception):
            raise
        return run


def training_runs_fail_stale(*, silent_for: timedelta = STALE_AFTER) -> list[TrainingRun]:
    """Finish as failed every running run whose job has not beaten its heartbeat for `silent_for`: its worker died
    (killed, machine lost) without the chance to say so. Returns the runs it failed.

    Safe to run anywhere at any time: a live job beats every POLL_SECONDS, far inside `silent_for`.
    """
    cutoff = timezone.now() - silent_for
    failed = []
    for run in TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff):
        with transaction.atomic():
            # Checked again under the lock: the job may have beaten or finished since the query.
            run = (TrainingRun.objects.select_for_update()
                   .filter(pk=run.pk, status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff).first())
            if run is None:
                continue
            beat = run.heartbeat_at.isoformat(timespec="seconds")
            checkpoints_record(run=run)
            reason = (f"the training worker stopped answering (last heartbeat {beat}); "
                      f"a checkpoint, if any, is in {run.output_dir}/checkpoints and the run can be resumed from it")
            failed.append(training_run_finish(run=run, status=TrainingRun.Status.FAILED, error=reason))
    return failed
