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
from common.storage import workspace_storage_relative
from datahub.models import DatasetVersion, Record, VersionRecord
from training.models import BaseModel, Checkpoint, TrainingRun
from training.runner.config import PROMPT_LEARNING_ADAPTERS
from training.services.hyperparameters import hyperparameters_clean
from training.services.memory import training_memory_check
from training.services.methods import adapter_settings_check
from training.services.preview import training_run_preview, training_text_check
from training.services.probes import probe_set_build, probe_set_reset

NAME_MAX = 200
FINISHED = {TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED}


# The record kind each method trains on.
METHOD_RECORD_KIND = {
    TrainingRun.Method.SFT: Record.Kind.SFT,
    TrainingRun.Method.DPO: Record.Kind.PREFERENCE,
    TrainingRun.Method.KTO: Record.Kind.KTO,
    # GRPO generates its own answers: the prompt is the conversation before the last reply, which is the reference.
    TrainingRun.Method.GRPO: Record.Kind.SFT,
}
# How the launch preview and the text check read a method's rows.
PREVIEW_METHOD = {TrainingRun.Method.GRPO: TrainingRun.Method.SFT}


def _train_split_check(dataset_version: DatasetVersion, method: str) -> None:
    """The train split holds rows, and only rows of the method's kind: conversations for SFT, preference pairs for
    DPO, like/dislike completions for KTO."""
    if not dataset_version.counts.get("train"):
        raise ApplicationError(f"dataset version {dataset_version} has no train rows", where="dataset_version")
    kind = METHOD_RECORD_KIND[method]
    others = (VersionRecord.objects.filter(version=dataset_version, split=VersionRecord.Split.TRAIN)
              .exclude(record__kind=kind).count())
    if others:
        raise ApplicationError(
            f"{TrainingRun.Method(method).label} trains on {Record.Kind(kind).label} records, but the train split of "
            "dataset "
            f"version {dataset_version} holds {others} records of another kind",
            where="dataset_version",
        )


def run_settings_check(*, workspace: Workspace, base_model: BaseModel | None, dataset_version: DatasetVersion | None,
                       method: str, adapter: str, hyperparameters: dict | None) -> dict:
    """Everything about a run's settings that is checked before launch, except its memory; returns the complete
    hyperparameters. Raises ApplicationError naming the field at the first problem.
    """
    if base_model is None or base_model.workspace_id != workspace.pk:
        raise ApplicationError("unknown base model", where="base_model")
    if dataset_version is None or dataset_version.dataset.workspace_id != workspace.pk:
        raise ApplicationError("unknown dataset version", where="dataset_version")
    if method not in TrainingRun.Method.values:
        raise ApplicationError(f"unknown method {method!r}", where="method")
    if adapter not in TrainingRun.Adapter.values:
        raise ApplicationError(f"unknown adapter {adapter!r}", where="adapter")
    if not base_model.has_chat_template:
        raise ApplicationError(
            f"base model {base_model.name!r} has no chat template; training on conversations needs one",
            where="base_model",
        )
    _train_split_check(dataset_version, method)
    clean = hyperparameters_clean(values=hyperparameters or {}, base_model=base_model)
    if method == TrainingRun.Method.KTO and clean["per_device_train_batch_size"] < 2:
        raise ApplicationError(
            "KTO compares the completions within a batch; the batch size per device must be 2 or more",
            where="hyperparameters.per_device_train_batch_size",
        )
    if method == TrainingRun.Method.GRPO:
        completions = clean["per_device_train_batch_size"] * clean["gradient_accumulation_steps"]
        if completions % clean["num_generations"]:
            raise ApplicationError(
                f"GRPO compares the {clean['num_generations']} answers of each prompt within a batch: batch size × "
                f"gradient accumulation ({completions}) must be a multiple of the generations per prompt",
                where="hyperparameters.num_generations",
            )
    if clean["packing"] and method != TrainingRun.Method.SFT:
        raise ApplicationError("packing is for SFT; DPO and KTO keep each pair whole", where="hyperparameters.packing")
    if clean["packing"] and adapter in PROMPT_LEARNING_ADAPTERS:
        raise ApplicationError(
            f"packing needs each conversation's own position ids, which {TrainingRun.Adapter(adapter).label} ignores",
            where="hyperparameters.packing")
    adapter_settings_check(base_model=base_model, method=method, adapter=adapter, hyperparameters=clean)
    return clean


def _reward_graders_check(*, method: str, graders: list | None, workspace: Workspace) -> list[dict]:
    from graders.services import reward_definitions

    graders = list(graders or [])
    if method != TrainingRun.Method.GRPO:
        if graders:
            raise ApplicationError("graders reward GRPO runs only", where="graders")
        return []
    if not graders:
        raise ApplicationError("a GRPO run needs at least one grader to reward its answers", where="graders")
    if any(grader.workspace_id != workspace.pk for grader in graders):
        raise ApplicationError("unknown grader", where="graders")
    return reward_definitions(graders=graders)


def training_run_preflight(
    *,
    workspace: Workspace,
    base_model: BaseModel | None,
    dataset_version: DatasetVersion | None,
    method: str = TrainingRun.Method.SFT,
    adapter: str = TrainingRun.Adapter.LORA,
    hyperparameters: dict | None = None,
) -> dict:
    """What launching these settings would do, without launching: {"hyperparameters", "memory", "preview"}.

    The same checks as training_run_create (an ApplicationError names the field); "memory" is MemoryCheck.as_dict(),
    "preview" is training_run_preview's result. Changes nothing.
    """
    clean = run_settings_check(
        workspace=workspace,
        base_model=base_model,
        dataset_version=dataset_version,
        method=method,
        adapter=adapter,
        hyperparameters=hyperparameters,
    )
    memory = training_memory_check(base_model=base_model, method=method, adapter=adapter, hyperparameters=clean)
    preview = training_run_preview(
        base_model=base_model, dataset_version=dataset_version, hyperparameters=clean,
        method=PREVIEW_METHOD.get(method, method),
    )
    return {"hyperparameters": clean, "memory": memory.as_dict(), "preview": preview}


@transaction.atomic
def training_run_create(
    *,
    workspace: Workspace,
    name: str,
    base_model: BaseModel | None,
    dataset_version: DatasetVersion | None,
    method: str = TrainingRun.Method.SFT,
    adapter: str = TrainingRun.Adapter.LORA,
    hyperparameters: dict | None = None,
    override_memory: bool = False,
    created_by=None,
    parent: TrainingRun | None = None,
    resume_from: Checkpoint | None = None,
    probe_prompts: list[str] | None = None,
    probe_test_count: int = 0,
    probes: list[dict] | None = None,
    graders: list | None = None,
    reward_graders: list[dict] | None = None,
) -> TrainingRun:
    """Check and queue a run on the "gpu" queue; the job starts after the transaction commits.

    GRPO needs `graders` (graders.models.Grader of the workspace): their definitions are copied into the run and
    reward its completions; other methods take none. A retry passes its parent's copy as `reward_graders` instead.

    The probe set (training.services.probes) is `probe_prompts` typed in plus the first `probe_test_count` prompts of
    the version's test split, or `probes` as they are (a retry repeats its parent's); the job answers it with the base
    model before training and with the trained model after.

    `parent` and `resume_from` are for training_run_retry: the run this one repeats, and the checkpoint it continues
    from.

    Hyperparameters not given take their defaults; the run stores the complete set it will train with, and the memory
    estimate. A run whose estimate exceeds the training device is refused (where="memory") unless `override_memory`.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError("a run needs a name", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    clean = run_settings_check(
        workspace=workspace,
        base_model=base_model,
        dataset_version=dataset_version,
        method=method,
        adapter=adapter,
        hyperparameters=hyperparameters,
    )
    # The same rows the preview showed: a chat template that cannot write them consistently is refused here, not
    # discovered by the runner.
    training_text_check(base_model=base_model, dataset_version=dataset_version, hyperparameters=clean,
                        method=PREVIEW_METHOD.get(method, method))
    if reward_graders is None:
        reward_graders = _reward_graders_check(method=method, graders=graders, workspace=workspace)
    if probes is None:
        probes = probe_set_build(dataset_version=dataset_version, prompts=probe_prompts, test_count=probe_test_count)
    memory = training_memory_check(base_model=base_model, method=method, adapter=adapter, hyperparameters=clean)
    if not memory.fits and not override_memory:
        parts = memory.estimate.as_gib()
        raise ApplicationError(
            f"the run needs about {parts['total']:g} GiB (weights {parts['weights']:g}, trainable and optimizer "
            f"{parts['trainable']:g}, activations {parts['activations']:g}, logits {parts['logits']:g}, overhead "
            f"{parts['overhead']:g}) but the training device has {memory.device_gib:.2f} GiB; lower the batch size or "
            "max "
            "length, use QLoRA, or override",
            where="memory",
            code="memory",
        )

    user = created_by if created_by is not None and created_by.is_authenticated else None
    run = TrainingRun.objects.create(
        workspace=workspace,
        name=name,
        base_model=base_model,
        dataset_version=dataset_version,
        method=method,
        adapter=adapter,
        hyperparameters=clean,
        created_by=user,
        memory_estimate=memory.as_dict(),
        memory_override=not memory.fits,
        parent=parent,
        resume_from=resume_from,
        probes=probes,
        reward_graders=reward_graders,
    )
    run.output_dir = f"{workspace_storage_relative(workspace.pk)}/runs/{run.pk}"
    run.save(update_fields=["output_dir", "updated_at"])
    history_record(
        actor=created_by,
        target=run,
        verb="created",
        after={
            "status": run.status,
            "base_model": base_model.pk,
            "dataset_version": dataset_version.pk,
            "method": method,
            "adapter": adapter,
            "hyperparameters": clean,
            "memory_gib": memory.estimate.as_gib()["total"],
            "memory_override": not memory.fits,
            "parent": parent.pk if parent else None,
            "resume_from_step": resume_from.step if resume_from else None,
            "probes": len(probes),
            "graders": [definition["name"] for definition in reward_graders],
        },
    )

    from training.tasks import training_run_supervise_task

    run_id = run.pk
    transaction.on_commit(lambda: training_run_supervise_task.enqueue(run_id=run_id))
    return run


RESUMABLE = {TrainingRun.Status.CANCELLED, TrainingRun.Status.FAILED}


def training_run_retry(*, run: TrainingRun, hyperparameters: dict | None = None, resume: bool = False, name: str = "",
                       override_memory: bool = False, created_by=None) -> TrainingRun:
    """Queue a new run with `run`'s model, data, method and adapter, its hyperparameters edited by `hyperparameters`,
    linked to `run` as its parent.

    With `resume`, the new run continues from `run`'s last recorded checkpoint (weights, optimizer, scheduler and data
    position): `run` must have been cancelled or failed (a lost worker included) and have a checkpoint. `run` must
    have finished either way.
    """
    if run.status not in FINISHED:
        raise ApplicationError(f"run {run.name!r} has not finished ({run.status}); cancel it first", where="status",
                               code="conflict")
    checkpoint = None
    if resume:
        if run.status not in RESUMABLE:
            raise ApplicationError(
                f"run {run.name!r} {run.status}; only a cancelled or failed run is resumed — retry it instead",
                where="resume",
            )
        checkpoint = Checkpoint.objects.filter(run=run).order_by("-step").first()
        if checkpoint is None:
            raise ApplicationError(f"run {run.name!r} left no checkpoint to resume from", where="resume")
    if not isinstance(hyperparameters, (dict, type(None))):
        raise ApplicationError("hyperparameters must be an object", where="hyperparameters")
    values = {**run.hyperparameters, **(hyperparameters or {})}
    suffix = f" (resumed at step {checkpoint.step})" if checkpoint else " (retry)"
    name = (name or "").strip() or (run.name[:NAME_MAX - len(suffix)] + suffix)
    return training_run_create(
        workspace=run.workspace,
        name=name,
        base_model=run.base_model,
        dataset_version=run.dataset_version,
        method=run.method,
        adapter=run.adapter,
        hyperparameters=values,
        override_memory=override_memory,
        created_by=created_by,
        parent=run,
        resume_from=checkpoint,
        probes=probe_set_reset(run.probes),
        reward_graders=run.reward_graders,
    )


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
    history_record(
        actor=None,
        target=run,
        verb="started",
        before={"status": TrainingRun.Status.QUEUED},
        after={"status": run.status},
    )
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
    """End a running run as succeeded, failed or cancelled. A run that is not running (finished meanwhile) is
    refused."""
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
    history_record(
        actor=None, target=run, verb=status, before={"status": before}, after={"status": status, "error": error[:500]}
    )
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
