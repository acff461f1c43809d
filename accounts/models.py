from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from common.models import TimeStampedModel


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    ML_ENGINEER = "ml_engineer", _("ML engineer")
    PRODUCT_MANAGER = "product_manager", _("Product manager")
    REVIEWER = "reviewer", _("Reviewer")
    EXPERT_ANNOTATOR = "expert_annotator", _("Expert annotator")
    STAFF_ANNOTATOR = "staff_annotator", _("Staff annotator")
    CROWD_ANNOTATOR = "crowd_annotator", _("Crowd annotator")


class Workspace(TimeStampedModel):
    """A team's project: every dataset, annotation project, run and study belongs to one.

    Membership in a workspace, with a role, decides who sees and does what inside it.
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_one_role_per_workspace"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} as {self.role}"


class ApiToken(models.Model):
    """A user's key for scripts, production apps and the OpenAI-compatible server (`Authorization: Token <key>` or
    `Bearer <key>`). Only the key's SHA-256 is kept: the key is shown once, when it is made. `prefix` (its first
    characters) tells tokens apart in lists. A revoked token stays listed, and never works again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
