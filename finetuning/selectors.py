"""Reads of the fine-tuning API, in OpenAI's shapes: files, jobs (status read from the current run), events (the
job's own, plus what its runs did), checkpoints, and the fine-tuned models the chat server answers as.

Fine-tuned model ids read `ft:<base model>:<workspace>:<suffix>:<job id>` (the suffix may be empty, as in OpenAI's
`ft:gpt-4o-mini:org::id`); a checkpoint's adds `:ckpt-step-<step>`.
"""

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from accounts.access import scope_to_capability
from accounts.models import Workspace
from finetuning.models import FineTuningFile, FineTuningJob, FineTuningJobEvent
from training.models import Checkpoint, MetricPoint, ModelArtifact, TrainingRun
from training.services.runs import FINISHED

VIEW = "training.view"
CHECKPOINT_MARK = ":ckpt-step-"


def _ts(moment) -> int | None:
    return int(moment.timestamp()) if moment else None


# ------------------------------------------------------------------------------------------------ files


def file_object(file: FineTuningFile) -> dict:
    return {"id": file.public_id, "object": "file", "bytes": file.size, "created_at": _ts(file.created_at),
            "filename": file.filename, "purpose": file.purpose, "status": "processed", "status_details": None,
            "expires_at": None}


def file_list(*, workspace: Workspace, purpose: str | None = None, order: str = "desc") -> QuerySet[FineTuningFile]:
    files = FineTuningFile.objects.filter(workspace=workspace)
    if purpose:
        files = files.filter(purpose=purpose)
    return files.order_by("created_at", "pk") if order == "asc" else files.order_by("-created_at", "-pk")


def file_get(*, workspace: Workspace, file_id: str) -> FineTuningFile | None:
    return FineTuningFile.objects.filter(workspace=workspace, public_id=file_id).first()


# ------------------------------------------------------------------------------------------------ jobs


def _jobs() -> QuerySet[FineTuningJob]:
    return FineTuningJob.objects.select_related("workspace", "base_model", "run__artifact")


def job_list(*, workspace: Workspace, metadata: dict | None = None) -> QuerySet[FineTuningJob]:
    jobs = _jobs().filter(workspace=workspace)
    if metadata:
        jobs = jobs.filter(metadata__contains=metadata)
    return jobs.order_by("-created_at", "-pk")


def job_get(*, workspace: Workspace, job_id: str) -> FineTuningJob | None:
    return _jobs().filter(workspace=workspace, public_id=job_id).first()


def job_status(job: FineTuningJob) -> str:
    run = job.run
    if job.state in (FineTuningJob.State.VALIDATING, FineTuningJob.State.FAILED) or run is None:
        return "failed" if job.state == FineTuningJob.State.FAILED else "validating_files"
    if job.state == FineTuningJob.State.PAUSED and run.status == TrainingRun.Status.SUCCEEDED:
        return run.status  # it reached its end before the pause took effect
    if job.state in (FineTuningJob.State.PAUSED, FineTuningJob.State.CANCELLED):
        return job.state if run.status in FINISHED else run.status
    return run.status


def fine_tuned_model_id(job: FineTuningJob) -> str:
    return f"ft:{job.base_model.name}:{slugify(job.workspace.name) or job.workspace_id}:{job.suffix}:{job.public_id}"


def job_fine_tuned_model(job: FineTuningJob) -> str | None:
    """The model id once the job succeeded with an artifact, and until the model is deleted."""
    run = job.run
    if job_status(job) != "succeeded" or job.model_deleted or getattr(run, "artifact", None) is None:
        return None
    return fine_tuned_model_id(job)


def _trained_tokens(job: FineTuningJob) -> int | None:
    """Tokens the runs trained on, as the trainer counted them (SFT's num_tokens; a DPO run counts none)."""
    if job.run is None or job.run.status not in FINISHED:
        return None
    values = (MetricPoint.objects.filter(run_id=job.run_id, values__has_key="num_tokens").order_by("-step", "-id")
              .values_list("values", flat=True).first())
    return int(values["num_tokens"]) if values else None


def _estimated_finish(job: FineTuningJob) -> int | None:
    run = job.run
    if run is None or run.status != TrainingRun.Status.RUNNING or not run.started_at or run.progress <= 0:
        return None
    elapsed = timezone.now() - run.started_at
    return _ts(run.started_at + elapsed / run.progress)


def job_object(job: FineTuningJob, *, trained_tokens: bool = True) -> dict:
    """The fine_tuning.job object. `trained_tokens` costs a query per finished job; lists leave it out."""
    status = job_status(job)
    resolved = job.hyperparameters or {name: value for name, value in job.requested.items()}
    supervised_keys = ("n_epochs", "batch_size", "learning_rate_multiplier")
    method_type = job.method
    finished = job.run.finished_at if job.run is not None and status in ("succeeded", "failed", "cancelled") else None
    if status == "failed" and job.run is None:
        finished = job.updated_at
    error = job.error
    if error is None and status == "failed" and job.run is not None:
        error = {"code": "training_failed", "message": (job.run.error or "the training run failed").split("\n\n")[0],
                 "param": None}
    return {
        "id": job.public_id,
        "object": "fine_tuning.job",
        "created_at": _ts(job.created_at),
        "error": error,
        "fine_tuned_model": job_fine_tuned_model(job),
        "finished_at": _ts(finished),
        "hyperparameters": {key: resolved.get(key, "auto") for key in supervised_keys},
        "model": job.base_model.name,
        "organization_id": f"workspace-{job.workspace_id}",
        "result_files": [],
        "seed": job.seed,
        "status": status,
        "trained_tokens": _trained_tokens(job) if trained_tokens else None,
        "training_file": job.training_file,
        "validation_file": job.validation_file or None,
        "estimated_finish": _estimated_finish(job),
        "integrations": [],
        "metadata": job.metadata or None,
        "method": {"type": method_type, method_type: {"hyperparameters": dict(resolved)}},
        "user_provided_suffix": job.suffix or None,
    }


# ------------------------------------------------------------------------------------------------ events


def _event(event_id: str, moment, message: str, *, level: str = "info", data=None, kind: str = "message") -> dict:
    return {"object": "fine_tuning.job.event", "id": event_id, "created_at": _ts(moment), "level": level,
            "message": message, "data": data, "type": kind, "_at": moment}


def job_events(*, job: FineTuningJob) -> list[dict]:
    """Every event of the job, newest first: its own (created, validated, paused, …) and its runs' (started, a metrics
    event per logged step, checkpoints, the end). Four queries, however many runs and steps."""
    runs = list(job.runs.order_by("created_at", "pk").prefetch_related(
        Prefetch("metric_points", queryset=MetricPoint.objects.order_by("step", "id")),
        Prefetch("checkpoints", queryset=Checkpoint.objects.order_by("step"))))
    events = [_event(f"ftevent-j{event.pk}", event.created_at, event.message, level=event.level, data=event.data)
              for event in FineTuningJobEvent.objects.filter(job=job).order_by("created_at", "pk")]
    for run in runs:
        if run.started_at:
            events.append(_event(f"ftevent-s{run.pk}", run.started_at, "Fine-tuning job started", data={"run": run.pk}))
        for point in run.metric_points.all():
            values = point.values or {}
            if "loss" in values:
                data = {"step": point.step, "train_loss": values["loss"], "total_steps": None,
                        "train_mean_token_accuracy": values.get("mean_token_accuracy"), "epoch": point.epoch}
                events.append(
                    _event(
                        f"ftevent-m{point.pk}",
                        point.created_at,
                        f"Step {point.step}: training loss={values['loss']:.4f}",
                        data=data,
                        kind="metrics",
                    )
                )
            if "eval_loss" in values:
                data = {"step": point.step, "valid_loss": values["eval_loss"], "epoch": point.epoch}
                events.append(
                    _event(
                        f"ftevent-v{point.pk}",
                        point.created_at,
                        f"Step {point.step}: validation loss={values['eval_loss']:.4f}",
                        data=data,
                        kind="metrics",
                    )
                )
        for checkpoint in run.checkpoints.all():
            events.append(
                _event(
                    f"ftevent-c{checkpoint.pk}",
                    checkpoint.created_at,
                    f"Checkpoint created at step {checkpoint.step}",
                    data={"step": checkpoint.step, "fine_tuned_model_checkpoint": checkpoint_model_id(job, checkpoint)},
                )
            )
        if run.finished_at and run.status in FINISHED:
            if run.status == TrainingRun.Status.SUCCEEDED:
                events.append(_event(f"ftevent-e{run.pk}", run.finished_at,
                                     f"New fine-tuned model created: {fine_tuned_model_id(job)}"))
                events.append(_event(f"ftevent-f{run.pk}", run.finished_at, "The job has successfully completed"))
            elif run.status == TrainingRun.Status.FAILED:
                reason = (run.error or "").split("\n\n")[0]
                events.append(_event(f"ftevent-f{run.pk}", run.finished_at, f"The job failed: {reason}", level="error"))
            else:
                events.append(_event(f"ftevent-f{run.pk}", run.finished_at, "Training stopped", data={"run": run.pk}))
    # Same-second events keep their order of happening (metrics before a checkpoint at the same step).
    order = {id(event): index for index, event in enumerate(events)}
    events.sort(key=lambda event: (event["_at"], order[id(event)]), reverse=True)
    for event in events:
        del event["_at"]
    # The number of steps is known once the job is done.
    total = max((point.step for run in runs for point in run.metric_points.all()), default=None)
    for event in events:
        if event["type"] == "metrics" and "total_steps" in (event["data"] or {}):
            event["data"]["total_steps"] = total if job_status(job) == "succeeded" else None
    return events


def page(items: list[dict], *, after: str | None, limit: int) -> tuple[list[dict], bool]:
    """OpenAI's cursor pages: the items after the one whose id is `after` (all of them when it is missing)."""
    if after:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    return items[:limit], len(items) > limit


# ------------------------------------------------------------------------------------------------ checkpoints


def checkpoint_model_id(job: FineTuningJob, checkpoint: Checkpoint) -> str:
    return f"{fine_tuned_model_id(job)}{CHECKPOINT_MARK}{checkpoint.step}"


def job_checkpoints(*, job: FineTuningJob) -> list[dict]:
    """The job's checkpoints, newest first, each with the metrics logged at its step and a model id chat can use."""
    checkpoints = list(Checkpoint.objects.filter(run__in=job.runs.all()).order_by("-step", "-pk"))
    points = {}
    for point in MetricPoint.objects.filter(run__in=job.runs.all(), step__in=[c.step for c in checkpoints]).order_by(
        "id"
    ):
        points.setdefault(point.step, {}).update(point.values or {})
    objects = []
    for checkpoint in checkpoints:
        values = points.get(checkpoint.step, {})
        objects.append(
            {
                "object": "fine_tuning.job.checkpoint",
                "id": f"ftckpt-{checkpoint.pk}",
                "created_at": _ts(checkpoint.created_at),
                "fine_tuned_model_checkpoint": checkpoint_model_id(job, checkpoint),
                "fine_tuning_job_id": job.public_id,
                "step_number": checkpoint.step,
                "metrics": {
                    "step": float(checkpoint.step),
                    "train_loss": values.get("loss"),
                    "train_mean_token_accuracy": values.get("mean_token_accuracy"),
                    "valid_loss": values.get("eval_loss"),
                    "valid_mean_token_accuracy": values.get("eval_mean_token_accuracy"),
                    "full_valid_loss": values.get("eval_loss"),
                    "full_valid_mean_token_accuracy": values.get("eval_mean_token_accuracy"),
                },
            }
        )
    return objects


# ------------------------------------------------------------------------------------------------ served models


@dataclass(frozen=True)
class FineTunedModel:
    id: str
    created: int
    owned_by: str
    base_model: object
    adapter_path: str  # relative to the storage root
    job: FineTuningJob


def _served_jobs(*, user) -> QuerySet[FineTuningJob]:
    jobs = FineTuningJob.objects.select_related("workspace", "base_model", "run__artifact").filter(
        model_deleted=False, run__status=TrainingRun.Status.SUCCEEDED, run__artifact__kind=ModelArtifact.Kind.ADAPTER,
    ).exclude(state=FineTuningJob.State.CANCELLED)
    return scope_to_capability(jobs, user=user, capability=VIEW)


def fine_tuned_models_list(*, user) -> list[FineTunedModel]:
    """The fine-tuned models `user` may call, oldest first (one query)."""
    return [
        FineTunedModel(
            id=fine_tuned_model_id(job),
            created=_ts(job.run.finished_at or job.created_at),
            owned_by=job.workspace.name,
            base_model=job.base_model,
            adapter_path=job.run.artifact.path,
            job=job,
        )
        for job in _served_jobs(user=user).order_by("created_at", "pk")
    ]


def fine_tuned_model_get(*, user, model_id: str) -> FineTunedModel | None:
    """The fine-tuned model (or checkpoint) named `model_id` if `user` may call it; missing and forbidden look alike."""
    if not model_id.startswith("ft:"):
        return None
    name, step = model_id, None
    if CHECKPOINT_MARK in model_id:
        name, _, step_text = model_id.rpartition(CHECKPOINT_MARK)
        if not step_text.isdigit():
            return None
        step = int(step_text)
    job_id = name.rsplit(":", 1)[-1]
    jobs = scope_to_capability(
        FineTuningJob.objects.select_related("workspace", "base_model", "run__artifact"), user=user, capability=VIEW
    ).filter(public_id=job_id, model_deleted=False)
    job = jobs.first()
    if job is None or fine_tuned_model_id(job) != name:
        return None
    if step is None:
        if job_fine_tuned_model(job) is None or job.run.artifact.kind != ModelArtifact.Kind.ADAPTER:
            return None
        return FineTunedModel(id=model_id, created=_ts(job.run.finished_at), owned_by=job.workspace.name,
                              base_model=job.base_model, adapter_path=job.run.artifact.path, job=job)
    checkpoint = Checkpoint.objects.filter(run__in=job.runs.all(), step=step).order_by("-pk").first()
    if checkpoint is None:
        return None
    return FineTunedModel(id=model_id, created=_ts(checkpoint.created_at), owned_by=job.workspace.name,
                          base_model=job.base_model, adapter_path=checkpoint.path, job=job)


def fine_tuned_job_for_model(*, workspace: Workspace, model_id: str) -> FineTuningJob | None:
    """The job whose fine-tuned model is `model_id`, in `workspace` (for DELETE /v1/models/{id})."""
    if not model_id.startswith("ft:") or CHECKPOINT_MARK in model_id:
        return None
    job = _jobs().filter(workspace=workspace, public_id=model_id.rsplit(":", 1)[-1], model_deleted=False).first()
    if job is None or job_fine_tuned_model(job) != model_id:
        return None
    return job
