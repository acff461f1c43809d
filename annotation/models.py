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
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name", "version"], name="label_schema_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Label(models.Model):
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="labels")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    name = models.CharField(max_length=100)
    path = models.CharField(max_length=500, help_text="slash-joined names from the root, e.g. billing/refund")
    description = models.TextField(blank=True)
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
    label_pools = models.JSONField(default=list, blank=True, help_text="annotator kinds that label (crowd, staff, expert); empty: all")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="annotation_project_overlap_positive"),
            models.CheckConstraint(
                condition=models.Q(review_rate__gte=0, review_rate__lte=1, spot_check_rate__gte=0, spot_check_rate__lte=1,
                                   gold_rate__gte=0, gold_rate__lte=1, disagreement_threshold__gte=0, disagreement_threshold__lte=1),
                name="annotation_project_rates_are_shares"),
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
            models.Index(fields=["task", "expires_at"], condition=models.Q(status="active"), name="assignment_active_lease"),
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
    time_spent_ms = models.PositiveIntegerField(default=0)
    gold_correct = models.BooleanField(null=True, blank=True, help_text="on a gold item: whether the labels match the known answer")


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
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    claimed_until = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    fixed_labels = models.ManyToManyField(Label, related_name="+", blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "layer"], condition=models.Q(annotation__isnull=False),
                                    name="review_one_per_annotation_and_layer"),
            models.UniqueConstraint(fields=["task"], condition=models.Q(layer="disagreement"), name="review_one_disagreement_per_task"),
        ]
        indexes = [models.Index(fields=["layer", "status", "id"], name="review_queue")]
