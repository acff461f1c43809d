"""Training run state changes: create (and queue), start, finish, cancel. Each writes its history row.

queued ──start──► running ──finish──► succeeded | failed | cancelled
   └──────cancel──────────────────────────────────────► cancelled
A running run is cancelled in two steps: training_run_cancel sets cancel_requested, the job sees it, stops the
runner cleanly and finishes the run as cancelled.
"""

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion, Record, VersionRecord
from training.models import BaseModel, TrainingRun
from training.services.hyperparameters import hyperparameters_clean

NAME_MAX = 200
FINISHED = {TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED}


def _train_split_check(dataset_version: DatasetVersion) -> None:
    """SFT needs conversations in the train split, and only conversations."""
    if not dataset_version.counts.get("train"):
        raise ApplicationError(f"dataset version {dataset_version} has no train rows", where="dataset_version")
    others = (VersionRecord.objects.filter(version=dataset_version, split=VersionRecord.Split.TRAIN)
              .exclude(record__kind=Record.Kind.SFT).count())
    if others:
        raise ApplicationError(
            f"SFT trains on conversations, but the train split of dataset version {dataset_version} holds {others} "
            "preference or like/dislike records", where="dataset_version")


@transaction.atomic
def training_run_create(*, workspace: Workspace, name: str, base_model: BaseModel | None, dataset_version: DatasetVersion | None,
                        method: str = TrainingRun.Method.SFT, adapter: str = TrainingRun.Adapter.LORA,
                        hyperparameters: dict | None = None, created_by=None) -> TrainingRun:
    """Check and queue a run on the "gpu" queue; the job starts after the transaction commits.

    Hyperparameters not given take their defaults; the run stores the complete set it will train with.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError("a run needs a name", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    if base_model is None or base_model.workspace_id != workspace.pk:
        raise ApplicationError("unknown base model", where="base_model")
    if dataset_version is None or dataset_version.dataset.workspace_id != workspace.pk:
        raise ApplicationError("unknown dataset version", where="dataset_version")
    if method not in TrainingRun.Method.values:
        raise ApplicationError(f"unknown method {method!r}", where="method")
    if method != TrainingRun.Method.SFT:
        raise ApplicationError(f"method {method!r} is not supported yet; use sft", where="method")
    if adapter not in TrainingRun.Adapter.values:
        raise ApplicationError(f"unknown adapter {adapter!r}", where="adapter")
    if adapter != TrainingRun.Adapter.LORA:
        raise ApplicationError(f"adapter {adapter!r} is not supported yet; use lora", where="adapter")
    if not base_model.has_chat_template:
        raise ApplicationError(f"base model {base_model.name!r} has no chat template; SFT on conversations needs one", where="base_model")
    _train_split_check(dataset_version)
    clean = hyperparameters_clean(values=hyperparameters or {}, base_model=base_model)

    user = created_by if created_by is not None and created_by.is_authenticated else None
    run = TrainingRun.objects.create(workspace=workspace, name=name, base_model=base_model, dataset_version=dataset_version,
                                     method=method, adapter=adapter, hyperparameters=clean, created_by=user)
    run.output_dir = f"runs/{run.pk}"
    run.save(update_fields=["output_dir", "updated_at"])
    history_record(actor=created_by, target=run, verb="created",
                   after={"status": run.status, "base_model": base_model.pk, "dataset_version": dataset_version.pk,
                          "method": method, "adapter": adapter, "hyperparameters": clean})

    from training.tasks import training_run_execute

    run_id = run.pk
    transaction.on_commit(lambda: training_run_execute.enqueue(run_id=run_id))
    return run


def _locked(run: TrainingRun) -> TrainingRun:
    return TrainingRun.objects.select_for_update().get(pk=run.pk)


@transaction.atomic
def training_run_start(*, run: TrainingRun) -> TrainingRun | None:
    """Mark a queued run running; None when it is no longer queued (cancelled meanwhile, or started by another job)."""
    run = _locked(run)
    if run.status != TrainingRun.Status.QUEUED:
        return None
    now = timezone.now()
    run.status = TrainingRun.Status.RUNNING
    run.started_at = now
    run.heartbeat_at = now
    run.save(update_fields=["status", "started_at", "heartbeat_at", "updated_at"])
    history_record(actor=None, target=run, verb="started", before={"status": TrainingRun.Status.QUEUED}, after={"status": run.status})
    return run


def training_run_heartbeat(*, run: TrainingRun, progress: float | None = None) -> bool:
    """Record that the job is alive (and how far it got); return whether cancelling was asked for.

    Not a state change, so no history row: it runs every second.
    """
    changes = {"heartbeat_at": timezone.now()}
    if progress is not None:
        changes["progress"] = max(0.0, min(1.0, progress))
    TrainingRun.objects.filter(pk=run.pk).update(**changes)
    return TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists()


@transaction.atomic
def training_run_finish(*, run: TrainingRun, status: str, error: str = "") -> TrainingRun:
    """End a running run as succeeded, failed or cancelled. A run that is not running (finished meanwhile) is refused."""
    if status not in FINISHED:
        raise ApplicationError(f"a run cannot finish as {status!r}", where="status")
    run = _locked(run)
    if run.status != TrainingRun.Status.RUNNING:
        raise ApplicationError(f"run {run.name!r} is not running ({run.status})", where="status", code="conflict")
    before = run.status
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    if status == TrainingRun.Status.SUCCEEDED:
        run.progress = 1.0
    run.save(update_fields=["status", "error", "finished_at", "progress", "updated_at"])
    history_record(actor=None, target=run, verb=status, before={"status": before}, after={"status": status, "error": error[:500]})
    return run


@transaction.atomic
def training_run_cancel(*, run: TrainingRun, cancelled_by=None) -> TrainingRun:
    """Cancel a run: a queued one at once, a running one at its next training step (the job finishes it).

    Asking again while a cancel is pending changes nothing; a finished run cannot be cancelled.
    """
    run = _locked(run)
    if run.status in FINISHED:
        raise ApplicationError(f"run {run.name!r} has already finished ({run.status})", where="status", code="conflict")
    if run.cancel_requested:
        return run
    before = run.status
    run.cancel_requested = True
    if run.status == TrainingRun.Status.QUEUED:
        run.status = TrainingRun.Status.CANCELLED
        run.finished_at = timezone.now()
        verb = "cancelled"
    else:
        verb = "cancel_requested"
    run.save(update_fields=["cancel_requested", "status", "finished_at", "updated_at"])
    history_record(actor=cancelled_by, target=run, verb=verb, before={"status": before},
                   after={"status": run.status, "cancel_requested": True})
    return run
