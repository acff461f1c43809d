from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from common.models import TimeStampedModel
from datahub.models import Dataset, DatasetVersion, Record


class EmbeddingCache(models.Model):
    """One text's embedding under one model: a re-run embeds only texts it has not seen (docs/reference.md §4)."""

    text_hash = models.CharField(max_length=64, help_text="SHA-256 of the embedded text")
    model_name = models.CharField(max_length=500)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float32, L2-normalised, little-endian")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_name", "text_hash"], name="embedding_cache_unique")]


class DedupeRun(TimeStampedModel):
    """A dedupe over a dataset's current records or one of its versions: a dry run first, applied as a new version."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DRY_RUN_READY = "dry_run_ready", _("Ready for review")
        APPLIED = "applied", _("Applied")
        FAILED = "failed", _("Failed")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="dedupe_runs")
    version = models.ForeignKey(
        DatasetVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dedupe_runs",
        help_text="the version deduped; empty means the dataset's current records",
    )
    use_exact = models.BooleanField(default=True)
    use_near = models.BooleanField(default=True)
    use_semantic = models.BooleanField(default=True)
    near_threshold = models.FloatField(
        default=0.8, help_text="Jaccard similarity of shingles that makes a near-duplicate"
    )
    num_perm = models.PositiveIntegerField(default=128)
    cosine_threshold = models.FloatField(default=0.95, help_text="cosine of prompt+response embeddings (1 - epsilon)")
    embedding_model = models.CharField(
        max_length=500, blank=True, help_text="thresholds do not transfer between models"
    )
    last_record_id = models.BigIntegerField(
        null=True, blank=True, help_text="over current records: the newest record that existed when the run was created"
    )
    seed = models.IntegerField(default=0, help_text="split seed when applying over current records")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=32, blank=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    record_count = models.PositiveIntegerField(default=0)
    drop_count = models.PositiveIntegerField(default=0)
    cluster_count = models.PositiveIntegerField(default=0)
    histogram = models.JSONField(
        default=dict, blank=True, help_text='{"stage", "edges", "counts"}: nearest-neighbour similarity'
    )
    leakage = models.JSONField(
        default=dict, blank=True, help_text="duplicate pairs whose records sit in different splits"
    )
    timings = models.JSONField(default=dict, blank=True, help_text="seconds per stage")
    embedded_count = models.PositiveIntegerField(default=0, help_text="texts embedded by this run (cache misses)")
    semantic_skipped = models.PositiveIntegerField(
        default=0,
        help_text="texts the embedding model cannot read (e.g. Chinese "
        "for an English-only model), left out of the semantic stage",
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    applied_version = models.OneToOneField(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="dedupe_source"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running", "dry_run_ready", "applied", "failed"]),
                name="dedupe_run_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(near_threshold__gt=0, near_threshold__lte=1), name="dedupe_run_near_threshold_range"
            ),
            models.CheckConstraint(
                condition=models.Q(cosine_threshold__gt=0, cosine_threshold__lte=1), name="dedupe_run_cosine_range"
            ),
        ]
        indexes = [models.Index(fields=["dataset", "-created_at"])]

    def __str__(self) -> str:
        return f"dedupe run {self.pk} of {self.dataset}"

    @property
    def percent(self) -> int:
        if self.status in (self.Status.DRY_RUN_READY, self.Status.APPLIED):
            return 100
        return min(100, int(100 * self.processed / self.total)) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DRY_RUN_READY, self.Status.APPLIED, self.Status.FAILED)


class Stage(models.TextChoices):
    EXACT = "exact", _("Exact")
    NORMALISED = "normalised", _("Exact after normalising")
    NEAR = "near", _("Near-duplicate (MinHash)")
    SEMANTIC = "semantic", _("Semantic (embeddings)")


class DedupeCluster(models.Model):
    """Records joined by duplicate pairs (union-find over every stage); `kept` is the best by the keep policy."""

    run = models.ForeignKey(DedupeRun, on_delete=models.CASCADE, related_name="clusters")
    number = models.PositiveIntegerField()
    kept = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    size = models.PositiveIntegerField()
    max_similarity = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="dedupe_cluster_number_unique")]
        indexes = [models.Index(fields=["run", "-size", "number"])]


class DedupePair(models.Model):
    """A scored pair: a duplicate found by a stage, or one of the closest pairs below the thresholds (for tuning)."""

    run = models.ForeignKey(DedupeRun, on_delete=models.CASCADE, related_name="pairs")
    record_a = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    record_b = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    similarity = models.FloatField()
    prompt_similarity = models.FloatField(
        null=True, blank=True, help_text="cosine of prompts only: reported, never deletes"
    )
    is_duplicate = models.BooleanField()
    split_a = models.CharField(max_length=16, blank=True)
    split_b = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "-similarity", "id"])]

    @property
    def crosses_splits(self) -> bool:
        return bool(self.split_a and self.split_b and self.split_a != self.split_b)


class DedupeDecision(models.Model):
    """What happens to one record of a cluster; a person may override it before the run is applied."""

    class Action(models.TextChoices):
        KEEP = "keep", _("Keep")
        DROP = "drop", _("Drop")

    run = models.ForeignKey(DedupeRun, on_delete=models.CASCADE, related_name="decisions")
    cluster = models.ForeignKey(DedupeCluster, on_delete=models.CASCADE, related_name="decisions")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=8, choices=Action.choices)
    proposed_action = models.CharField(max_length=8, choices=Action.choices)
    kept_record = models.ForeignKey(Record, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                    help_text="the kept copy this record duplicates")
    similarity = models.FloatField(null=True, blank=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, blank=True)
    rank = models.PositiveIntegerField(help_text="position in the cluster by the keep policy (0 = best)")
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "record"], name="dedupe_decision_record_unique_in_run"),
            models.CheckConstraint(
                condition=models.Q(action__in=["keep", "drop"]), name="dedupe_decision_action_valid"
            ),
        ]
        indexes = [models.Index(fields=["run", "cluster", "rank"])]

    @property
    def is_overridden(self) -> bool:
        return self.action != self.proposed_action
