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
