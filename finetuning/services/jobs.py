"""Fine-tuning jobs: create (and start its training run), cancel, pause, resume; delete the fine-tuned model.

A job is a chain of Whetstone training runs: the first is made at creation; a pause cancels the current one (which
saves a resumable checkpoint) and a resume queues its successor from that checkpoint (training_run_retry). The
OpenAI status is read from the current run (finetuning.selectors.job_status).

"auto" hyperparameters resolve from the number of training examples, and the job reports what they became:
    n_epochs       3, raised until the run sees at least 100 examples (at most 10 epochs), lowered so it sees at most
                   25,000 (at least 1)
    batch_size     0.2% of the examples, rounded up, between 1 and 256
    learning_rate_multiplier  1.0 (the learning rate is this times BASE_LEARNING_RATE of the method)
    beta (DPO)     0.1
"""

import math

from django.db import transaction

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.services.records import record_build, records_insert_ids
from datahub.services.versions import dataset_version_create
from finetuning.models import FineTuningFile, FineTuningJob, FineTuningJobEvent
from finetuning.services.files import public_id
from training.models import BaseModel, Checkpoint, TrainingRun
from training.services.runs import FINISHED, training_run_cancel, training_run_create, training_run_retry

METHODS = {"supervised": TrainingRun.Method.SFT, "dpo": TrainingRun.Method.DPO}
BASE_LEARNING_RATE = {"supervised": 1e-4, "dpo": 1e-5}
# name → (kind, low, high) of the values a caller may give instead of "auto".
LIMITS = {
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": (float, 1e-3, 100.0),
    "beta": (float, 1e-3, 10.0),
}
SUFFIX_MAX = 64
METADATA_PAIRS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 16, 64, 512


def event_add(
    *, job: FineTuningJob, message: str, level: str = FineTuningJobEvent.Level.INFO, data: dict | None = None
):
    return FineTuningJobEvent.objects.create(job=job, message=message, level=level, data=data)


def _auto(name: str, rows: int) -> float | int:
    if name == "n_epochs":
        epochs = 3
        while epochs < 10 and epochs * rows < 100:
            epochs += 1
        while epochs > 1 and epochs * rows > 25_000:
            epochs -= 1
        return epochs
    if name == "batch_size":
        return max(1, min(256, math.ceil(rows * 0.002)))
    return 1.0 if name == "learning_rate_multiplier" else 0.1


def _value(name: str, value, where: str):
    kind, low, high = LIMITS[name]
    if value is None or value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise ApplicationError(f"{name} must be 'auto' or {'an integer' if kind is int else 'a number'}, not {value!r}",
                               where=where)
    if not low <= value <= high:
        raise ApplicationError(f"{name} must be between {low:g} and {high:g}, not {value:g}", where=where)
    return kind(value)


def method_resolve(*, method: dict | None, hyperparameters: dict | None) -> tuple[str, dict]:
    """(method type, requested hyperparameters with "auto" for those not given) from the request's `method` and the
    older top-level `hyperparameters` (supervised only)."""
    if method is not None and not isinstance(method, dict):
        raise ApplicationError("method must be an object with a 'type'", where="method")
    kind = (method or {}).get("type") or "supervised"
    if kind not in METHODS:
        raise ApplicationError(
            f"method type {kind!r} is not supported here; use 'supervised' or 'dpo'", where="method.type"
        )
    settings = ((method or {}).get(kind) or {})
    if not isinstance(settings, dict):
        raise ApplicationError(f"method.{kind} must be an object", where=f"method.{kind}")
    given = settings.get("hyperparameters") or {}
    prefix = f"method.{kind}.hyperparameters"
    if hyperparameters:
        if kind != "supervised":
            raise ApplicationError("the top-level hyperparameters are for supervised jobs; give DPO's under method.dpo",
                                   where="hyperparameters")
        if given:
            raise ApplicationError(
                "give hyperparameters either at the top level or under method, not both", where="hyperparameters"
            )
        given, prefix = hyperparameters, "hyperparameters"
    if not isinstance(given, dict):
        raise ApplicationError("hyperparameters must be an object", where=prefix)
    names = ["n_epochs", "batch_size", "learning_rate_multiplier"] + (["beta"] if kind == "dpo" else [])
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ApplicationError(
            f"unknown hyperparameter {unknown[0]!r}; known: {', '.join(names)}", where=f"{prefix}.{unknown[0]}"
        )
    return kind, {name: _value(name, given.get(name), f"{prefix}.{name}") for name in names}


def _metadata(metadata) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > METADATA_PAIRS:
        raise ApplicationError(f"metadata must be an object of at most {METADATA_PAIRS} pairs", where="metadata")
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_MAX or not isinstance(value, str) or len(value) > METADATA_VALUE_MAX:
            raise ApplicationError(
                f"metadata keys are strings of at most {METADATA_KEY_MAX} characters and values strings "
                f"of at most {METADATA_VALUE_MAX}",
                where=f"metadata.{key}",
            )
    return metadata


def base_model_for(*, workspace: Workspace, model: str) -> BaseModel:
    """The workspace's base model named `model` (its name, or the server's id "<workspace id>/<name>")."""
    name = model or ""
    prefix = f"{workspace.pk}/"
    if name.startswith(prefix):
        name = name[len(prefix):]
    base_model = BaseModel.objects.filter(workspace=workspace, name=name).first() if name else None
    if base_model is None:
        raise ApplicationError(
            f"Model {model!r} is not available for fine-tuning or does not exist; GET /v1/models lists "
            "the base models of this workspace",
            where="model",
            code="model_not_available",
        )
    return base_model


def _data_version(*, training: FineTuningFile, validation: FineTuningFile | None, created_by) -> DatasetVersion:
    """The version the run trains on: the training file's own, or with a validation file, a new version of the
    training file's dataset holding the validation examples in its validation split (lineage: parent and detail)."""
    if validation is None:
        return training.version
    dataset = training.dataset
    train_ids = list(
        VersionRecord.objects.filter(version=training.version).order_by("pk").values_list("record_id", flat=True)
    )
    copies = [
        record_build(
            dataset=dataset,
            clean={
                "kind": record.kind,
                "messages": record.messages,
                "tools": record.tools,
                "chosen": record.chosen,
                "rejected": record.rejected,
            },
            source=record.source,
            raw=record.raw,
            origin="openai_file",
            parent=record,
            line_number=record.line_number,
        )
        for record in Record.objects.filter(version_entries__version=validation.version).order_by("pk")
    ]
    ids = records_insert_ids(dataset=dataset, records=copies)
    taken = set(train_ids)
    validation_ids = [pk for pk in dict.fromkeys(ids[copy.content_hash] for copy in copies) if pk not in taken]
    entries = [(pk, "train", []) for pk in train_ids] + [(pk, "validation", []) for pk in validation_ids]
    return dataset_version_create(
        dataset=dataset,
        entries=entries,
        operation=DatasetVersion.Operation.OPENAI_JOB,
        created_by=created_by,
        parent=training.version,
        ratios={"train": 1.0, "validation": 0.0, "test": 0.0},
        operation_detail={
            "training_file": training.public_id,
            "validation_file": validation.public_id,
            "validation_version": validation.version_id,
        },
        note=f"training {training.public_id}, validation {validation.public_id}",
    )


def run_hyperparameters(*, kind: str, resolved: dict, train_rows: int, seed: int) -> dict:
    """Whetstone's run settings for OpenAI's: one example per row of a batch, a metrics point every step, a checkpoint
    (and a validation loss) every epoch."""
    steps_per_epoch = max(1, math.ceil(train_rows / resolved["batch_size"]))
    values = {"num_train_epochs": float(resolved["n_epochs"]), "per_device_train_batch_size": resolved["batch_size"],
              "gradient_accumulation_steps": 1,
              "learning_rate": BASE_LEARNING_RATE[kind] * resolved["learning_rate_multiplier"],
              "logging_steps": 1, "save_steps": steps_per_epoch, "eval_steps": steps_per_epoch, "seed": seed}
    if kind == "dpo":
        values["beta"] = resolved["beta"]
    return values


def _refusal(error: ApplicationError) -> dict:
    if error.where == "memory":
        return {"code": "insufficient_memory", "message": error.message, "param": None}
    param = error.where.split(".")[0] if error.where else None
    return {"code": "invalid_training_file" if param in ("dataset_version", "records") else "invalid_request",
            "message": error.message, "param": "training_file" if param in ("dataset_version", "records") else param}


@transaction.atomic
def fine_tuning_job_create(
    *,
    workspace: Workspace,
    model: str,
    training_file: FineTuningFile,
    validation_file: FineTuningFile | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    metadata: dict | None = None,
    method: dict | None = None,
    hyperparameters: dict | None = None,
    validation_split: float = 0.0,
    created_by=None,
) -> FineTuningJob:
    """Check the request (an ApplicationError names the parameter), make the job and queue its training run.

    A run the platform refuses (the memory check, the chat template, the data) leaves the job failed, with OpenAI's
    error object carrying our reason, as OpenAI fails a job whose files do not validate. `validation_split` (the page's
    choice, 0 to 0.5) holds out that share of the training file's examples for the validation loss instead of a file.
    """
    base_model = base_model_for(workspace=workspace, model=model)
    kind, requested = method_resolve(method=method, hyperparameters=hyperparameters)
    for name, file in (("training_file", training_file), ("validation_file", validation_file)):
        if file is not None and file.kind != kind:
            raise ApplicationError(f"{file.public_id} holds {file.kind} examples, but this is a {kind} job", where=name,
                                   code="invalid_file_format")
    if training_file.version is None:
        raise ApplicationError(f"{training_file.public_id} has no dataset version", where="training_file")
    suffix = (suffix or "").strip()
    if len(suffix) > SUFFIX_MAX or ":" in suffix:
        raise ApplicationError(f"suffix is at most {SUFFIX_MAX} characters, without ':'", where="suffix")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1):
        raise ApplicationError("seed must be an integer from 0 to 2147483647", where="seed")
    if validation_file is not None and validation_split:
        raise ApplicationError("choose a validation file or a validation split, not both", where="validation_file")
    if not 0 <= validation_split <= 0.5:
        raise ApplicationError("the validation split is a share from 0 to 0.5", where="validation_split")
    metadata = _metadata(metadata)
    seed = seed if seed is not None else 42
    user = created_by if created_by is not None and created_by.is_authenticated else None

    job = FineTuningJob.objects.create(
        public_id=public_id("ftjob"), workspace=workspace, base_model=base_model, method=kind,
        training_file=training_file.public_id, validation_file=validation_file.public_id if validation_file else "",
        suffix=suffix, seed=seed, metadata=metadata, requested=requested, created_by=user)
    history_record(actor=created_by, target=job, verb="created", after={"model": base_model.name, "method": kind,
                                                                        "training_file": job.training_file,
                                                                        "validation_file": job.validation_file})
    event_add(job=job, message=f"Created fine-tuning job: {job.public_id}")
    event_add(job=job, message=f"Validating training file: {training_file.public_id}"
              + (f" and validation file: {validation_file.public_id}" if validation_file else ""))
    try:
        with transaction.atomic():
            version = _data_version(training=training_file, validation=validation_file, created_by=user)
            if validation_split:
                version = _split_version(version=version, share=validation_split, seed=seed, created_by=user)
            train_rows = version.counts.get("train", 0)
            resolved = {
                name: (_auto(name, train_rows) if value == "auto" else value) for name, value in requested.items()
            }
            run = training_run_create(
                workspace=workspace,
                name=f"{job.public_id}" + (f" ({suffix})" if suffix else ""),
                base_model=base_model,
                dataset_version=version,
                method=METHODS[kind],
                adapter=TrainingRun.Adapter.LORA,
                hyperparameters=run_hyperparameters(kind=kind, resolved=resolved, train_rows=train_rows, seed=seed),
                created_by=created_by,
            )
    except ApplicationError as error:
        job.state = FineTuningJob.State.FAILED
        job.error = _refusal(error)
        job.save(update_fields=["state", "error", "updated_at"])
        event_add(job=job, level=FineTuningJobEvent.Level.ERROR, message=f"Job failed: {error.message}", data=job.error)
        history_record(actor=created_by, target=job, verb="failed", after={"error": job.error})
        return job
    job.dataset_version = version
    job.hyperparameters = resolved
    job.run = run
    job.state = FineTuningJob.State.TRAINING
    job.save(update_fields=["dataset_version", "hyperparameters", "run", "state", "updated_at"])
    job.runs.add(run)
    event_add(job=job, message="Files validated, moving job to queued state",
              data={"hyperparameters": resolved, "run": run.pk, "dataset_version": version.pk})
    history_record(actor=created_by, target=job, verb="queued", after={"run": run.pk, "hyperparameters": resolved})
    return job


def _split_version(*, version: DatasetVersion, share: float, seed: int, created_by) -> DatasetVersion:
    """A new version of `version`'s dataset with `share` of its train examples (grouped by prompt) held out for
    validation: the page's "validation split" instead of a validation file."""
    from datahub.splits import group_keys, split_entries

    rows = list(VersionRecord.objects.filter(version=version, split=VersionRecord.Split.TRAIN).order_by("record_id")
                .values_list("record_id", "record__prompt_hash", "record__parent_id"))
    keys = group_keys(rows)
    ratios = {"train": round(1 - share, 6), "validation": round(share, 6), "test": 0.0}
    entries = split_entries([pk for pk, _, _ in rows], keys, seed=seed, ratios=ratios)
    return dataset_version_create(
        dataset=version.dataset,
        entries=entries,
        operation=DatasetVersion.Operation.OPENAI_JOB,
        created_by=created_by,
        parent=version,
        seed=seed,
        ratios=ratios,
        operation_detail={"validation_split": share},
        note=f"{share:.0%} held out for validation",
    )


def _locked(job: FineTuningJob) -> FineTuningJob:
    return FineTuningJob.objects.select_for_update(of=("self",)).select_related("run").get(pk=job.pk)


def _finished(job: FineTuningJob) -> bool:
    return job.state in (FineTuningJob.State.FAILED, FineTuningJob.State.CANCELLED) or (
        job.state == FineTuningJob.State.TRAINING and job.run is not None and job.run.status in FINISHED) or (
        job.run is not None and job.run.status == TrainingRun.Status.SUCCEEDED)


@transaction.atomic
def fine_tuning_job_cancel(*, job: FineTuningJob, cancelled_by=None) -> FineTuningJob:
    """Cancel: a queued run at once, a running one at its next step (it keeps a resumable checkpoint); a paused job
    simply ends. A finished job is refused."""
    job = _locked(job)
    if _finished(job):
        raise ApplicationError(
            f"Job {job.public_id} has already completed and cannot be cancelled",
            where="fine_tuning_job_id",
            code="conflict",
        )
    if job.run is not None and job.run.status not in FINISHED:
        training_run_cancel(run=job.run, cancelled_by=cancelled_by)
    before = job.state
    job.state = FineTuningJob.State.CANCELLED
    job.save(update_fields=["state", "updated_at"])
    event_add(job=job, message="Job cancelled" if before != FineTuningJob.State.PAUSED else "Paused job cancelled")
    history_record(
        actor=cancelled_by, target=job, verb="cancelled", before={"state": before}, after={"state": job.state}
    )
    return job


@transaction.atomic
def fine_tuning_job_pause(*, job: FineTuningJob, paused_by=None) -> FineTuningJob:
    """Pause a queued or running job: its run stops at the next step with a resumable checkpoint."""
    job = _locked(job)
    if job.state != FineTuningJob.State.TRAINING or job.run.status in FINISHED:
        raise ApplicationError(f"Job {job.public_id} is not queued or running; only those can be paused",
                               where="fine_tuning_job_id", code="conflict")
    training_run_cancel(run=job.run, cancelled_by=paused_by)
    job.state = FineTuningJob.State.PAUSED
    job.save(update_fields=["state", "updated_at"])
    event_add(job=job, message="Job paused: training stops at its next step and keeps a checkpoint to resume from")
    history_record(actor=paused_by, target=job, verb="paused", after={"run": job.run_id})
    return job


@transaction.atomic
def fine_tuning_job_resume(*, job: FineTuningJob, resumed_by=None) -> FineTuningJob:
    """Resume a paused job once its run has stopped: a new run continues from the run's last checkpoint (or starts
    over when it stopped before making one)."""
    job = _locked(job)
    if job.state != FineTuningJob.State.PAUSED or job.run.status == TrainingRun.Status.SUCCEEDED:
        raise ApplicationError(f"Job {job.public_id} is not paused", where="fine_tuning_job_id", code="conflict")
    if job.run.status not in FINISHED:
        raise ApplicationError(f"Job {job.public_id} is still pausing; resume it once its status reads 'paused'",
                               where="fine_tuning_job_id", code="conflict")
    has_checkpoint = Checkpoint.objects.filter(run=job.run).exists()
    run = training_run_retry(run=job.run, resume=has_checkpoint, created_by=resumed_by)
    before = job.run_id
    job.run = run
    job.state = FineTuningJob.State.TRAINING
    job.save(update_fields=["run", "state", "updated_at"])
    job.runs.add(run)
    step = run.resume_from.step if run.resume_from_id else 0
    event_add(job=job, message=f"Job resumed from step {step}" if step else "Job resumed from the start",
              data={"run": run.pk, "step": step})
    history_record(
        actor=resumed_by, target=job, verb="resumed", before={"run": before}, after={"run": run.pk, "step": step}
    )
    return job


@transaction.atomic
def fine_tuned_model_delete(*, job: FineTuningJob, deleted_by=None) -> FineTuningJob:
    """DELETE /v1/models/{id}: the fine-tuned model is no longer listed nor served; the run's artifact stays in the
    workspace (lineage), where the UI still shows it."""
    job = _locked(job)
    job.model_deleted = True
    job.save(update_fields=["model_deleted", "updated_at"])
    event_add(job=job, message="Fine-tuned model deleted")
    history_record(actor=deleted_by, target=job, verb="model_deleted")
    return job
