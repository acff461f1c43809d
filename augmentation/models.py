"""Augmentation runs and their candidates, mixes of sources, source grading runs, and user synonym tables."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel
from datahub.models import Dataset, DatasetVersion, Record, Source


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


STATUS_VALUES = ["queued", "running", "succeeded", "failed"]


class ProgressModel(TimeStampedModel):
    """A background run with progress (processed of total) and the reason it failed."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        return min(100, int(100 * self.processed / self.total)) if self.total else 0


class SynonymTable(TimeStampedModel):
    """A synonym table a user uploaded (TSV or JSON): {word: [synonyms]}; read symmetrically by EDA."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="synonym_tables")
    name = models.CharField(max_length=200)
    entries = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="synonym_table_name_unique_in_workspace")
        ]

    def __str__(self) -> str:
        return self.name


class AugmentationRun(ProgressModel):
    """Candidates generated from the train split of one version, reviewed, then accepted as a new version.

    `options` holds every knob of every method (see services.runs.OPTIONS_DEFAULT); it is stored so a run can be
    re-read exactly. Status succeeded means "candidates ready for review"; `result_version` is set on acceptance.
    """

    class Method(models.TextChoices):
        EDA = "eda", _("EDA edits (synonyms, insertion, swap, deletion)")
        PARAPHRASE = "paraphrase", _("LLM paraphrase")
        BACK_TRANSLATION = "back_translation", _("Back-translation")

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="augmentation_runs")
    methods = models.JSONField(default=list)
    options = models.JSONField(default=dict)
    endpoint = models.ForeignKey(
        "llm.ModelEndpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    synonym_table = models.ForeignKey(
        SynonymTable, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    embedding_model = models.CharField(max_length=500, blank=True)
    candidate_count = models.PositiveIntegerField(default=0)
    passing_count = models.PositiveIntegerField(default=0)
    result_version = models.OneToOneField(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=STATUS_VALUES), name="augmentation_run_status_valid")
        ]
        indexes = [models.Index(fields=["version", "-created_at"])]

    def __str__(self) -> str:
        return f"augmentation {self.pk} of {self.version}"


class AugmentationCandidate(models.Model):
    """One generated prompt variant, its filter verdict and the person's decision."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    run = models.ForeignKey(AugmentationRun, on_delete=models.CASCADE, related_name="candidates")
    parent = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    split = models.CharField(max_length=16, help_text="the parent's split; the child lands there")
    method = models.CharField(max_length=32, choices=AugmentationRun.Method.choices)
    operation = models.CharField(max_length=32, blank=True, help_text="EDA operation, pivot language ...")
    original_text = models.TextField()
    text = models.TextField(help_text="the new prompt (last user turn)")
    row = models.JSONField(help_text="the canonical row of the child record")
    content_hash = models.CharField(max_length=64)
    scores = models.JSONField(default=dict)
    is_passing = models.BooleanField(default=False)
    reason = models.CharField(max_length=32)
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    record = models.ForeignKey(Record, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["run", "id"]), models.Index(fields=["run", "decision"])]


class MixRun(ProgressModel):
    """A version of `dataset` sampled from several ingredients (sources or versions) by target ratios."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="mix_runs")
    ingredients = models.JSONField(default=list, help_text='[{"kind": "source"|"version", "id": 3, "ratio": 0.5}, ...]')
    total_size = models.PositiveIntegerField()
    seed = models.IntegerField(default=0)
    achieved = models.JSONField(default=dict)
    result_version = models.OneToOneField(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=STATUS_VALUES), name="mix_run_status_valid")
        ]


class GradingRun(ProgressModel):
    """Quality scores for every record of a source, from rules or an LLM judge."""

    class Method(models.TextChoices):
        RULES = "rules", _("Rules")
        LLM_JUDGE = "llm_judge", _("LLM judge")

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="grading_runs")
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.RULES)
    options = models.JSONField(default=dict)
    endpoint = models.ForeignKey(
        "llm.ModelEndpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    failed_count = models.PositiveIntegerField(default=0)
    mean_score = models.FloatField(null=True, blank=True)
    suggested_tier = models.CharField(max_length=1, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=STATUS_VALUES), name="grading_run_status_valid")
        ]
        indexes = [models.Index(fields=["source", "-created_at"])]


class RecordGrade(models.Model):
    """One record's score in one grading run, with the reasons; `error` when the judge gave no usable score."""

    run = models.ForeignKey(GradingRun, on_delete=models.CASCADE, related_name="grades")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(default=list)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "record"], name="record_grade_unique_in_run")]
        indexes = [models.Index(fields=["run", "score"])]
