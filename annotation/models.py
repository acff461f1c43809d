import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel
from datahub.models import DatasetVersion, VersionRecord


class LabelSchema(TimeStampedModel):
    """A versioned tree of labels. Once published it never changes; edits make a new version."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="label_schemas")
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    multiple = models.BooleanField(default=False, help_text="several labels may be picked")
    leaf_only = models.BooleanField(default=True, help_text="only leaves may be picked")
    # Optional fields beside the labels, part of the published version like the labels.
    rating_scale = models.PositiveSmallIntegerField(
        default=0, help_text="0: no rating; N: a rating from 1 to N (2..10)"
    )
    rating_question = models.CharField(
        max_length=300, blank=True, help_text="what the rating measures, e.g. 'How helpful is the answer?'"
    )
    free_text_question = models.CharField(
        max_length=300, blank=True, help_text="blank: no free-text field; else its question"
    )
    pairwise_question = models.CharField(
        max_length=300,
        blank=True,
        help_text="blank: no A/B comparison; else its question, asked on records with two answers",
    )
    ranking_question = models.CharField(
        max_length=300,
        blank=True,
        help_text="blank: no ranking; else its question: a project then groups the answers to one "
        "prompt into one item, and annotators rank them best first",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name", "version"], name="label_schema_version_unique"),
            models.CheckConstraint(
                condition=models.Q(rating_scale=0) | models.Q(rating_scale__gte=2, rating_scale__lte=10),
                name="label_schema_rating_scale_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Label(models.Model):
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="labels")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    name = models.CharField(max_length=100)
    path = models.CharField(max_length=500, help_text="slash-joined names from the root, e.g. billing/refund")
    description = models.TextField(blank=True)
    examples = models.JSONField(default=list, blank=True, help_text="short texts that belong under the label")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["schema", "path"], name="label_path_unique_in_schema")]
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.path


class AnnotationProject(TimeStampedModel):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="annotation_projects")
    name = models.CharField(max_length=200)
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="annotation_projects")
    schema = models.ForeignKey(LabelSchema, on_delete=models.PROTECT, related_name="projects")
    overlap = models.PositiveSmallIntegerField(default=1, help_text="independent annotations wanted per item")
    instructions = models.TextField(blank=True)
    lease_seconds = models.PositiveIntegerField(default=600)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Layers: the share of submitted annotations a reviewer re-checks, the base share an expert spot-checks (doubled for
    # annotators whose gold accuracy is low), the share of items with known answers used as gold, and the disagreement
    # (1 - share of the most common answer) above which a completed item goes to an expert.
    review_rate = models.FloatField(default=0.0)
    spot_check_rate = models.FloatField(default=0.0)
    gold_rate = models.FloatField(default=0.0)
    disagreement_threshold = models.FloatField(default=0.5)
    blind = models.BooleanField(default=True, help_text="annotators do not see each other's answers")
    label_pools = models.JSONField(
        default=list, blank=True, help_text="annotator kinds that label (crowd, staff, expert); empty: all"
    )

    class Mode(models.TextChoices):
        HUMAN_ONLY = "human_only", _("Human only")
        AI_ASSISTS = "ai_assists", _("AI labels beside people")
        AI_FIRST = "ai_first", _("AI first, human verifies")

    # human_only: AI annotators may not run. ai_assists: an AI annotator is one more annotator (overlap, agreement and
    # the sampled layers as for people). ai_first: an AI answer completes its item and always goes to the re-check
    # queue; the export leaves it out until a reviewer accepts or fixes it, and a rejection gives the item back to
    # people.
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.HUMAN_ONLY)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="annotation_project_overlap_positive"),
            models.CheckConstraint(
                condition=models.Q(
                    review_rate__gte=0,
                    review_rate__lte=1,
                    spot_check_rate__gte=0,
                    spot_check_rate__lte=1,
                    gold_rate__gte=0,
                    gold_rate__lte=1,
                    disagreement_threshold__gte=0,
                    disagreement_threshold__lte=1,
                ),
                name="annotation_project_rates_are_shares",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AnnotationTask(models.Model):
    """One record to label in a project (a work item; background jobs live in tasks.py)."""

    project = models.ForeignKey(AnnotationProject, on_delete=models.CASCADE, related_name="tasks")
    entry = models.ForeignKey(VersionRecord, on_delete=models.PROTECT, related_name="annotation_tasks")
    submitted_count = models.PositiveSmallIntegerField(default=0)
    is_complete = models.BooleanField(default=False)
    is_gold = models.BooleanField(default=False)
    gold_labels = models.JSONField(default=list, blank=True, help_text="the known answer of a gold item: label paths")
    candidates = models.JSONField(
        default=list,
        blank=True,
        help_text="a ranking item: the version entries (ids) of the answers to rank, 2 to 9, all to "
        "`entry`'s prompt, `entry` first; empty for an item of one record",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "entry"], name="annotation_task_unique_entry")]
        indexes = [
            models.Index(fields=["project", "is_complete", "id"]),
            # The queue walks a project's open tasks in id order; finished ones are not in this index, so a claim never
            # steps over the done part of a large project.
            models.Index(fields=["project", "id"], condition=models.Q(is_complete=False), name="annotation_task_open"),
        ]


class Assignment(models.Model):
    """A lease of one task slot to one annotator. A slot can hold one live (active or submitted)
    assignment, so over-assignment is impossible at the database level."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUBMITTED = "submitted", _("Submitted")
        EXPIRED = "expired", _("Expired")
        SKIPPED = "skipped", _("Skipped")

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    slot = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    claimed_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task", "slot"],
                condition=models.Q(status__in=["active", "submitted"]),
                name="assignment_one_live_per_slot",
            ),
            models.UniqueConstraint(
                fields=["task", "annotator"],
                condition=models.Q(status__in=["active", "submitted"]),
                name="assignment_one_live_per_annotator",
            ),
        ]
        indexes = [
            models.Index(fields=["annotator", "status"]),
            # The queue asks, per candidate task, "is it leased?" and "did this annotator finish it?": both are
            # index probes, whatever the number of tasks already done.
            models.Index(
                fields=["task", "expires_at"], condition=models.Q(status="active"), name="assignment_active_lease"
            ),
            models.Index(fields=["task", "annotator"], name="assignment_task_annotator"),
        ]


class Annotation(TimeStampedModel):
    class AnnotatorKind(models.TextChoices):
        CROWD = "crowd", _("Crowd")
        STAFF = "staff", _("Staff")
        EXPERT = "expert", _("Expert")
        AI = "ai", _("AI")

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="annotations")
    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="annotation")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    annotator_kind = models.CharField(max_length=16, choices=AnnotatorKind.choices)
    labels = models.ManyToManyField(Label, related_name="annotations", blank=True)
    corrected_response = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1..the schema's rating_scale; empty when not rated"
    )
    free_text = models.TextField(blank=True, help_text="the answer to the schema's free-text question")

    class Preference(models.TextChoices):
        A = "a", _("Answer A")
        B = "b", _("Answer B")
        TIE = "tie", _("Tie")

    preference = models.CharField(
        max_length=3,
        choices=Preference.choices,
        blank=True,
        help_text="pairwise: a (the stored chosen answer), b (the stored rejected one) or tie; blank: none",
    )
    ranking = models.JSONField(default=list, blank=True,
                               help_text="a ranking item: its candidate entry ids, best first; empty otherwise")
    time_spent_ms = models.PositiveIntegerField(default=0)
    gold_correct = models.BooleanField(
        null=True, blank=True, help_text="on a gold item: whether the labels match the known answer"
    )


class Review(TimeStampedModel):
    """One check in a layer above labelling: a reviewer's re-check or an expert's spot check of one annotation, or an
    expert's decision on an item whose annotators disagree (no single annotation)."""

    class Layer(models.TextChoices):
        REVIEW = "review", _("Re-check")
        SPOT_CHECK = "spot_check", _("Spot check")
        DISAGREEMENT = "disagreement", _("Disagreement")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        FIXED = "fixed", _("Fixed")

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="reviews")
    annotation = models.ForeignKey(Annotation, null=True, blank=True, on_delete=models.CASCADE, related_name="reviews")
    layer = models.CharField(max_length=16, choices=Layer.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    sampled_because = models.CharField(max_length=200, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    fixed_labels = models.ManyToManyField(Label, related_name="+", blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "layer"],
                condition=models.Q(annotation__isnull=False),
                name="review_one_per_annotation_and_layer",
            ),
            models.UniqueConstraint(
                fields=["task"], condition=models.Q(layer="disagreement"), name="review_one_disagreement_per_task"
            ),
        ]
        indexes = [models.Index(fields=["layer", "status", "id"], name="review_queue")]


class SchemaMove(TimeStampedModel):
    """A project's move from one published version of its label schema to a newer one, with the label mapping used.

    Annotations keep the labels of the version they were made in (a published version never changes); exports and
    agreement read them through the project's moves, in order, so old answers count as the new labels."""

    project = models.ForeignKey(AnnotationProject, on_delete=models.CASCADE, related_name="schema_moves")
    from_schema = models.ForeignKey(LabelSchema, on_delete=models.PROTECT, related_name="+")
    to_schema = models.ForeignKey(LabelSchema, on_delete=models.PROTECT, related_name="+")
    mapping = models.JSONField(
        default=dict,
        help_text="old label path -> new label path, for every label of the old version that has a counterpart",
    )
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at", "id"]


class AIAnnotator(TimeStampedModel):
    """A model that labels a project's items like a person: an endpoint, a prompt template and a temperature.

    It works as its own service user (`user`, no password, inactive, no workspace membership), so the queue, overlap,
    leases, gold scoring, agreement and review treat it as one more annotator; its annotations carry the kind "ai".
    A template edit is a new prompt version (the hash of the template), recorded with every answer."""

    project = models.ForeignKey(AnnotationProject, on_delete=models.CASCADE, related_name="ai_annotators")
    name = models.CharField(max_length=100)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ai_annotator")
    endpoint = models.ForeignKey("llm.ModelEndpoint", on_delete=models.PROTECT, related_name="+")
    prompt_template = models.TextField(
        help_text="with {conversation} and {labels}, and {questions} when the schema asks more than labels"
    )
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="ai_annotator_name_unique_in_project"),
            models.CheckConstraint(
                condition=models.Q(temperature__gte=0, temperature__lte=2), name="ai_annotator_temperature_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def prompt_version(self) -> str:
        """A short, stable name of the prompt template: the first 12 hex digits of its SHA-256."""
        return hashlib.sha256(self.prompt_template.encode("utf-8")).hexdigest()[:12]


class AIRun(TimeStampedModel):
    """One pass of an AI annotator over up to `limit` items of its project (a background job)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    ai_annotator = models.ForeignKey(AIAnnotator, on_delete=models.CASCADE, related_name="runs")
    limit = models.PositiveIntegerField(help_text="items to label at most")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    processed = models.PositiveIntegerField(default=0, help_text="items answered so far: annotated + failed")
    annotated = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["ai_annotator", "-id"], name="ai_run_latest")]


class AIAnswer(models.Model):
    """What the model answered for one item in a run: the labels it became (with model and prompt version), or why it
    could not be used (the item was then given back)."""

    class Outcome(models.TextChoices):
        ANNOTATED = "annotated", _("Annotated")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(AIRun, on_delete=models.CASCADE, related_name="answers")
    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="+")
    annotation = models.OneToOneField(
        Annotation, null=True, blank=True, on_delete=models.CASCADE, related_name="ai_answer"
    )
    model = models.CharField(max_length=300)
    prompt_version = models.CharField(max_length=16)
    response_text = models.TextField(blank=True)
    label_paths = models.JSONField(default=list, blank=True)
    # The answers to the schema's other questions, as read from the model's text (empty when not asked or unusable).
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1..the schema's rating_scale; empty when not asked"
    )
    free_text = models.TextField(blank=True, help_text="the answer to the schema's free-text question")
    preference = models.CharField(max_length=3, choices=Annotation.Preference.choices, blank=True,
                                  help_text="pairwise: a (the stored chosen answer), b (the stored rejected one) or "
                                            "tie; blank: none")
    ranking = models.JSONField(
        default=list, blank=True, help_text="a ranking item: its candidate entry ids, best first"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["run", "id"], name="ai_answer_run")]
