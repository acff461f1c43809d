"""A grader saved in a workspace: its definition in OpenAI's grader shape (graders.grading.definitions), checked
before it is stored."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel


class Grader(TimeStampedModel):
    class Kind(models.TextChoices):
        STRING_CHECK = "string_check", _("String check")
        TEXT_SIMILARITY = "text_similarity", _("Text similarity")
        PYTHON = "python", _("Python")
        SCORE_MODEL = "score_model", _("Model judge")
        MULTI = "multi", _("Formula over graders")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="graders")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    definition = models.JSONField()
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="grader_name_unique_in_workspace"),
            models.CheckConstraint(condition=models.Q(kind__in=["string_check", "text_similarity", "python",
                                                                "score_model", "multi"]),
                                   name="grader_kind_known"),
        ]

    def __str__(self) -> str:
        return self.name
