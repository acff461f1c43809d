"""The release decision: the scorecard of a candidate model, the workspace's weights, deployment slots with their
release gate, and which model wrote each reply a slot served.

A model here is a base model or a model artifact (adapter, merged or full weights): two nullable foreign keys, at most
one set, as in evaluation's arms and general checks.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel
from training.models import BaseModel, ModelArtifact


def _one_model(prefix: str, *, required: bool) -> models.Q:
    base, artifact = f"{prefix}_base_model__isnull", f"{prefix}_artifact__isnull"
    exactly_one = models.Q(**{base: False, artifact: True}) | models.Q(**{base: True, artifact: False})
    return exactly_one if required else exactly_one | models.Q(**{base: True, artifact: True})


class ReleasePolicy(TimeStampedModel):
    """A workspace's scorecard weights (dimension → share, summing to 1). Each scorecard keeps a copy of the weights
    it was computed with, so changing them never rewrites an old scorecard."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="release_policy")
    weights = models.JSONField(help_text='{"task": 0.4, "general": 0.2, "speed": 0.15, "resources": 0.15, '
                                         '"deployability": 0.1}')
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"release policy of {self.workspace_id}"


class Scorecard(TimeStampedModel):
    """One candidate model scored on the five dimensions of releases.scoring from the evidence found (and measured)
    when it was computed. `dimensions` holds, per dimension, the score (or null: evidence missing), the figures and
    the evidence they came from."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="scorecards")
    artifact = models.ForeignKey(ModelArtifact, on_delete=models.CASCADE, related_name="scorecards",
                                 help_text="the candidate")
    baseline = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="+",
                                 help_text="the base model the candidate is measured against")
    weights = models.JSONField(help_text="the weights this scorecard was computed with")
    dimensions = models.JSONField(default=list, blank=True,
                                  help_text='[{"key", "score": 1..5 | null, "figures": {...}, "evidence": [...], '
                                            '"missing": "why" | ""}]')
    total = models.FloatField(null=True, blank=True, help_text="weighted total; null while any dimension is missing")
    is_complete = models.BooleanField(default=False, help_text="every dimension has a score")
    is_ready_to_ship = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["artifact", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(total__isnull=True) | models.Q(total__gte=1, total__lte=5),
                                   name="scorecard_total_in_range"),
            models.CheckConstraint(condition=models.Q(is_ready_to_ship=False) | models.Q(is_complete=True),
                                   name="scorecard_ready_only_when_complete"),
        ]

    def __str__(self) -> str:
        return f"scorecard {self.pk} of {self.artifact_id}"


class Deployment(TimeStampedModel):
    """A named slot (e.g. "support-bot") that production apps call as `model`: the production model answers, and a
    candidate, when set, answers `candidate_share` of the end users (sticky per end user: releases.routing)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="deployments")
    name = models.SlugField(max_length=100)
    production_base_model = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.PROTECT,
                                              related_name="+")
    production_artifact = models.ForeignKey(ModelArtifact, null=True, blank=True, on_delete=models.PROTECT,
                                            related_name="+")
    candidate_base_model = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.PROTECT,
                                             related_name="+")
    candidate_artifact = models.ForeignKey(ModelArtifact, null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="+")
    previous_base_model = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.PROTECT,
                                            related_name="+", help_text="what rollback restores")
    previous_artifact = models.ForeignKey(ModelArtifact, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+")
    candidate_share = models.FloatField(default=0.1, help_text="share of end users (0..1) the candidate answers")
    support_band_low = models.FloatField(
        default=0.5, help_text="the gate: the candidate's support-rate interval must lie above this (0..1)")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="deployment_name_unique_in_workspace"),
            models.CheckConstraint(condition=_one_model("production", required=True),
                                   name="deployment_one_production_model"),
            models.CheckConstraint(condition=_one_model("candidate", required=False),
                                   name="deployment_at_most_one_candidate"),
            models.CheckConstraint(condition=_one_model("previous", required=False),
                                   name="deployment_at_most_one_previous"),
            models.CheckConstraint(condition=models.Q(candidate_share__gte=0, candidate_share__lte=1),
                                   name="deployment_candidate_share_in_unit_range"),
            models.CheckConstraint(condition=models.Q(support_band_low__gte=0, support_band_low__lt=1),
                                   name="deployment_support_band_in_unit_range"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def production(self):
        return self.production_artifact or self.production_base_model

    @property
    def candidate(self):
        return self.candidate_artifact or self.candidate_base_model

    @property
    def previous(self):
        return self.previous_artifact or self.previous_base_model


class DeploymentReply(models.Model):  # noqa: DJ008
    """Which model wrote a reply a slot served: feedback sent with the reply id is attributed to that model without
    the app knowing it. Append-only."""

    class Role(models.TextChoices):
        PRODUCTION = "production", _("Production")
        CANDIDATE = "candidate", _("Candidate")

    reply_id = models.CharField(max_length=100, unique=True, help_text="the chat completion's id")
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="replies")
    role = models.CharField(max_length=16, choices=Role.choices)
    base_model = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    artifact = models.ForeignKey(ModelArtifact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    end_user_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the end user id, never the id")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["deployment", "created_at"])]
