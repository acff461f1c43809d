"""OpenAI's fine-tuning objects, each standing on Whetstone's own: a file is a dataset and a frozen version; a job is a
chain of training runs (a resume adds one); its fine-tuned model is the last run's artifact.

Public ids have OpenAI's forms ("file-…", "ftjob-…") and are random (secrets), so they say nothing about other
workspaces' counts.
"""

from django.conf import settings
from django.db import models

from accounts.models import Workspace
from common.models import TimeStampedModel
from datahub.models import Dataset, DatasetVersion
from training.models import BaseModel, TrainingRun


class FineTuningFile(TimeStampedModel):
    """A file uploaded through POST /v1/files with purpose "fine-tune": the bytes as sent, and the dataset and frozen
    version its rows became (every row in the train split)."""

    class Kind(models.TextChoices):
        SUPERVISED = "supervised", "supervised"
        DPO = "dpo", "dpo"

    public_id = models.CharField(max_length=40, unique=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="fine_tuning_files")
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=32, default="fine-tune")
    size = models.PositiveBigIntegerField(default=0, help_text="bytes")
    path = models.CharField(max_length=500, help_text="the bytes as uploaded, relative to the storage root")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    rows = models.PositiveIntegerField(default=0, help_text="lines in the file")
    dataset = models.ForeignKey(Dataset, null=True, on_delete=models.SET_NULL, related_name="+")
    version = models.ForeignKey(DatasetVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return self.public_id


class FineTuningJob(TimeStampedModel):
    """A fine-tuning job. Its OpenAI status is read from its current run (finetuning.selectors.job_status), except
    before the run exists (validating_files, or failed when refused) and after a pause or a cancel asked for here."""

    class State(models.TextChoices):
        VALIDATING = "validating_files", "validating_files"
        TRAINING = "training", "training"  # the status is the current run's
        FAILED = "failed", "failed"  # refused before a run started; `error` says why
        PAUSED = "paused", "paused"
        CANCELLED = "cancelled", "cancelled"

    public_id = models.CharField(max_length=40, unique=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="fine_tuning_jobs")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="fine_tuning_jobs")
    method = models.CharField(max_length=16, choices=FineTuningFile.Kind.choices)
    training_file = models.CharField(max_length=40, help_text="public id, kept when the file is deleted")
    validation_file = models.CharField(max_length=40, blank=True)
    suffix = models.CharField(max_length=64, blank=True)
    seed = models.IntegerField()
    metadata = models.JSONField(default=dict, blank=True)
    requested = models.JSONField(default=dict, help_text="the hyperparameters as asked, 'auto' included")
    hyperparameters = models.JSONField(default=dict, help_text="what they resolved to: n_epochs, batch_size, "
                                                                "learning_rate_multiplier (and beta for DPO)")
    state = models.CharField(max_length=20, choices=State.choices, default=State.VALIDATING)
    error = models.JSONField(null=True, blank=True, help_text='{"code", "message", "param"} when it failed')
    dataset_version = models.ForeignKey(DatasetVersion, null=True, on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(TrainingRun, null=True, on_delete=models.PROTECT, related_name="+",
                            help_text="the current run: the first, or the last resume")
    runs = models.ManyToManyField(TrainingRun, related_name="fine_tuning_jobs", blank=True)
    model_deleted = models.BooleanField(default=False, help_text="DELETE /v1/models/{id}: no longer listed or served")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return self.public_id


class FineTuningJobEvent(models.Model):
    """What the job itself did (created, validated, paused, resumed, refused); what its runs did (started, steps,
    checkpoints, finished) is read from the runs, so the two never disagree."""

    class Level(models.TextChoices):
        INFO = "info", "info"
        WARN = "warn", "warn"
        ERROR = "error", "error"

    job = models.ForeignKey(FineTuningJob, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    data = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "created_at"])]

    def __str__(self) -> str:
        return f"{self.job}: {self.message[:60]}"
