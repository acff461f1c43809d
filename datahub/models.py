from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel
from common.text_similarity import prompt_turns


class Source(TimeStampedModel):
    """Where records come from; its tier decides which copy dedupe keeps."""

    class Kind(models.TextChoices):
        OWN = "own", _("Own")
        PUBLIC = "public", _("Public")
        USER_GENERATED = "user_generated", _("User-generated")
        EXPERT_WRITTEN = "expert_written", _("Expert-written")
        SYNTHETIC = "synthetic", _("Model-generated")
        CROWDSOURCED = "crowdsourced", _("Crowdsourced")
        ONLINE = "online", _("Live system")
        OPENAI_API = "openai_api", _("OpenAI fine-tuning API upload")

    class Tier(models.TextChoices):
        A = "A", _("A (best)")
        B = "B", "B"
        C = "C", "C"
        D = "D", _("D (worst)")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.OWN)
    quality_tier = models.CharField(max_length=1, choices=Tier.choices, default=Tier.B)
    description = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="source_name_unique_in_workspace")]

    def __str__(self) -> str:
        return self.name


class Dataset(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="dataset_name_unique_in_workspace")]

    def __str__(self) -> str:
        return self.name


class Record(models.Model):
    """One training example in canonical form. Its content never changes after creation:
    a correction is a new Record whose `parent` is the original, so frozen versions stay exact.

    sft:        messages = [{"role": "system"|"user"|"assistant"|"tool", "content": str}, ...], tools optional
    preference: messages = the prompt turns; chosen / rejected = one assistant message each
    kto:        messages = prompt turns + the assistant completion; label = desirable or not
    """

    class Kind(models.TextChoices):
        SFT = "sft", _("Conversation (SFT)")
        PREFERENCE = "preference", _("Preference (DPO)")
        KTO = "kto", _("Like / dislike (KTO)")

    # (dataset, id) and (dataset, content_hash) lead with the dataset, so a dataset-only index would be a third copy.
    # The dataset reference is checked once per statement by triggers (migration 0008), not once per row by a
    # foreign key constraint, which cost the bulk import a quarter of its database time.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="records", db_index=False, db_constraint=False
    )
    # Lineage pointers are kept by Django (SET_NULL on delete) rather than by database constraints: a constraint
    # costs a trigger and a lookup per inserted row, which made up a third of a bulk import's time.
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="records",
                               db_constraint=False, db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SFT)
    messages = models.JSONField()
    tools = models.JSONField(null=True, blank=True)
    chosen = models.JSONField(null=True, blank=True)
    rejected = models.JSONField(null=True, blank=True)
    label = models.BooleanField(null=True, blank=True)
    raw = models.JSONField(null=True, blank=True, help_text="the original row as imported")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical content")
    prompt_hash = models.CharField(max_length=64, help_text="SHA-256 of the normalised prompt; groups splits")
    tags = models.JSONField(default=list, blank=True)
    quality_score = models.FloatField(
        null=True, blank=True, help_text="0-1 from source grading; dedupe keeps the better"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
                               db_constraint=False, db_index=False)
    origin = models.CharField(
        max_length=32, default="import", help_text="import, annotation, augmentation, feedback ..."
    )
    import_job = models.ForeignKey(
        "ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="records", db_constraint=False
    )
    line_number = models.PositiveIntegerField(null=True, blank=True)
    # The database's default as well: the bulk import leaves the column out of its COPY (one timestamp fewer to parse
    # per record) and its records get its transaction's start.
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "content_hash"], name="record_content_unique_in_dataset"),
            models.CheckConstraint(
                condition=~models.Q(kind="preference")
                | (models.Q(chosen__isnull=False) & models.Q(rejected__isnull=False)),
                name="record_preference_has_pair",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="kto") | models.Q(label__isnull=False), name="record_kto_has_label"
            ),
        ]
        # No index on prompt_hash: records are grouped by prompt within a dataset, read in full (splits, leakage),
        # and a random-key index would cost every import a page visit per row.
        indexes = [
            models.Index(fields=["dataset", "id"]),
            # Most records have no parent, and many no source: a partial index costs their import nothing, and still
            # serves every lookup by parent or source (a condition "= x" implies "is not null").
            models.Index(fields=["parent"], condition=models.Q(parent__isnull=False), name="record_parent_set"),
            models.Index(fields=["source"], condition=models.Q(source__isnull=False), name="record_source_set"),
        ]

    def __str__(self) -> str:
        return f"record {self.pk}"

    @property
    def prompt_messages(self) -> list[dict]:
        """The turns before the final assistant answer (common.text_similarity.prompt_turns)."""
        return prompt_turns(self.messages, self.kind)

    @property
    def response_text(self) -> str:
        if self.kind == self.Kind.PREFERENCE:
            return (self.chosen or {}).get("content", "")
        if self.messages and self.messages[-1].get("role") == "assistant":
            return self.messages[-1].get("content") or ""
        return ""


class RecordSearch(models.Model):
    """A record's words for the browser's full-text search (PostgreSQL; GIN-indexed).

    Filled by a database trigger on every insert into Record (migration 0006), except in a transaction that sets
    datahub.defer_search: the bulk import does, and indexes its records in one statement once they are in.
    """

    # No database constraint: checking it cost more than tokenising. Django deletes these rows with their records,
    # and a row left by a raw delete only ever points at an id that no record has.
    record = models.OneToOneField(
        Record, primary_key=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    document = SearchVectorField()


# A running import whose progress has not moved for this long has lost its worker (setting
# DATAHUB_IMPORT_STALE_SECONDS).
IMPORT_STALE_AFTER = timedelta(seconds=getattr(settings, "DATAHUB_IMPORT_STALE_SECONDS", 600))


class ImportJob(TimeStampedModel):
    """One file being read into a dataset. All or nothing: records appear only when the job succeeds."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        AUTO = "auto", _("Detect from the first row")
        ALPACA = "alpaca", _("Alpaca (instruction / input / output)")
        SHAREGPT = "sharegpt", _("ShareGPT (conversations from / value)")
        FIREFLY = "firefly", _("Firefly (conversation human / assistant)")
        MESSAGES = "messages", _("Messages (OpenAI chat)")
        PROMPT_COMPLETION = "prompt_completion", _("Prompt / completion")
        PREFERENCE = "preference", _("Preference (prompt / chosen / rejected, HH-RLHF, UltraFeedback)")
        KTO = "kto", _("KTO (messages / label)")

    class Container(models.TextChoices):
        AUTO = "", _("Detect from the file")
        JSON = "json", _("JSON array")
        JSONL = "jsonl", _("JSON Lines")
        CSV = "csv", _("CSV")
        TSV = "tsv", _("TSV")
        PARQUET = "parquet", _("Parquet")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="import_jobs")
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs")
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500, help_text="relative to the storage root")
    format = models.CharField(max_length=32, choices=Format.choices, default=Format.AUTO, help_text="as requested")
    detected_format = models.CharField(max_length=32, blank=True, help_text="the format the rows were read as")
    container = models.CharField(max_length=16, choices=Container.choices, blank=True, default="",
                                 help_text="as requested; empty detects it")
    detected_container = models.CharField(max_length=16, blank=True)
    encoding = models.CharField(max_length=32, blank=True, help_text="the text encoding detected")
    column_map = models.JSONField(
        default=dict, blank=True, help_text='{"field the format reads": "column in the file"}'
    )
    skip_invalid = models.BooleanField(default=False, help_text="keep good rows and report bad ones instead of failing")
    dataset_is_new = models.BooleanField(
        default=False,
        help_text="the dataset was made for this import: if the import fails, "
        "the dataset (still empty) is deleted with it",
    )
    max_record_chars = models.PositiveIntegerField(default=200_000, help_text="a record larger than this is rejected")
    resume_row = models.PositiveIntegerField(
        default=0, help_text="rows read and staged in committed chunks; a restart skips them"
    )
    # The staged chunks live in a file beside the upload (datahub.services.import_staging.StagedFile): these say how
    # much of it the committed chunks fill, and its checksum, so a restart can tell whether the file survived.
    staged_bytes = models.PositiveBigIntegerField(
        default=0, help_text="bytes of staged records the committed chunks fill"
    )
    staged_crc = models.PositiveBigIntegerField(default=0, help_text="CRC-32 of those bytes")
    invalid_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    error_where = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)
    search_pending = models.BooleanField(default=False, help_text="its records are not in the full-text index yet; "
                                                                  "search matches them by substring meanwhile")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["queued", "running", "succeeded", "failed"]),
                                   name="import_job_status_valid"),
            models.CheckConstraint(condition=models.Q(format__in=["auto", "alpaca", "sharegpt", "firefly", "messages",
                                                                  "prompt_completion", "preference", "kto"]),
                                   name="import_job_format_valid"),
        ]
        indexes = [models.Index(fields=["dataset", "-created_at"])]

    def __str__(self) -> str:
        return f"import {self.file_name} into {self.dataset}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def is_stale(self) -> bool:
        """Running, but no progress written for DATAHUB_IMPORT_STALE_SECONDS: its worker died; it may be resumed."""
        return self.is_stale_at(timezone.now())

    def is_stale_at(self, now, stale_after: timedelta | None = None) -> bool:
        """Running at `now` with no progress written for `stale_after` (IMPORT_STALE_AFTER unless given)."""
        stale_after = IMPORT_STALE_AFTER if stale_after is None else stale_after
        return self.status == self.Status.RUNNING and self.updated_at < now - stale_after

    @property
    def percent(self) -> int:
        """Progress for the bar: rows read over rows in the file."""
        if self.status == self.Status.SUCCEEDED:
            return 100
        return min(100, int(100 * self.processed / self.total)) if self.total else 0


class ImportRowError(models.Model):
    """A row an import with skip_invalid left out, and why: the downloadable error report."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    field = models.CharField(max_length=255, blank=True)
    reason = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["job", "line"])]


class DatasetVersion(TimeStampedModel):
    """An immutable snapshot: the exact records, each one's split, the seed and ratios, and lineage."""

    class Operation(models.TextChoices):
        FREEZE = "freeze", _("Freeze")
        ANNOTATION_EXPORT = "annotation_export", _("Annotation export")
        DEDUPE = "dedupe", _("Dedupe")
        AUGMENTATION = "augmentation", _("Augmentation")
        MIX = "mix", _("Mix of sources")
        FEEDBACK = "feedback", _("Production feedback")
        EVALUATION_VOTES = "evaluation_votes", _("Evaluation votes")
        OPENAI_FILE = "openai_file", _("OpenAI file upload")
        OPENAI_JOB = "openai_job", _("OpenAI fine-tuning job data")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    operation = models.CharField(max_length=32, choices=Operation.choices, default=Operation.FREEZE)
    operation_detail = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=0)
    ratios = models.JSONField(default=dict, help_text='{"train": 0.8, "validation": 0.1, "test": 0.1}')
    manifest_hash = models.CharField(max_length=64)
    counts = models.JSONField(default=dict, help_text="records per split")
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="version_number_unique_in_dataset")]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"


class VersionRecord(models.Model):
    """A record's place in a frozen version: its split and the labels it carries there."""

    class Split(models.TextChoices):
        TRAIN = "train", _("Train")
        VALIDATION = "validation", _("Validation")
        TEST = "test", _("Test")

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="entries")
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="version_entries")
    split = models.CharField(max_length=16, choices=Split.choices)
    labels = models.JSONField(default=list, blank=True, help_text="label paths, e.g. ['billing/refund']")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "record"], name="version_record_unique")]
        indexes = [models.Index(fields=["version", "split", "id"])]
