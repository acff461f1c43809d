"""Production feedback: sources (apps that send it, with ingest tokens), the append-only events they send, and the
workbench drafts whose model mapping stays on the server until the agent picks."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel

PII_KINDS = ("email", "phone", "cn_id", "card")


def pii_kinds_default() -> list[str]:
    return list(PII_KINDS)


class FeedbackSource(TimeStampedModel):
    """A production app (or the built-in best-of-N workbench) that sends feedback into one workspace."""

    class Kind(models.TextChoices):
        APP = "app", _("Production app")
        WORKBENCH = "workbench", _("Best-of-N workbench")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="feedback_sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.APP)
    description = models.TextField(blank=True)
    pii_scrub = models.BooleanField(
        default=True, help_text="replace e-mail addresses, phone, ID and card numbers before storage"
    )
    pii_kinds = models.JSONField(default=pii_kinds_default, blank=True, help_text="which kinds the scrub replaces")
    rate_limit_per_minute = models.PositiveIntegerField(
        default=600_000, help_text="events accepted per minute; 0 means none"
    )
    simulated_by = models.CharField(
        max_length=64,
        blank=True,
        help_text="the rule that decides this source's likes, dislikes and picks in place of people "
        "(common.simulation), as the demo's shop app does; empty for real users",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="feedback_source_name_unique_in_workspace"),
            models.UniqueConstraint(fields=["workspace"], condition=models.Q(kind="workbench"),
                                    name="feedback_source_one_workbench_per_workspace"),
        ]

    def __str__(self) -> str:
        return self.name


class FeedbackIngestToken(models.Model):
    """A secret that lets one app write events into one source, and nothing else. Only its SHA-256 is kept; the
    token itself is shown once, when it is made. `prefix` (its first characters) tells tokens apart in lists."""

    source = models.ForeignKey(FeedbackSource, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["source", "created_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.source})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class FeedbackEvent(models.Model):
    """One piece of feedback, append-only: nothing updates or deletes an event (a PostgreSQL trigger refuses UPDATE).

    messages      the conversation up to the answer(s), OpenAI-style turns
    responses     [{"text", "model", "prompt_version"}, ...]: one answer, or the N candidates of a choice in shown order
    chosen_index  for a choice: which candidate was picked
    model / prompt_version  of the answer the signal is about (the rated, edited or chosen one), for grouping
    prompt_hash   SHA-256 of the normalised conversation, so signals on the same prompt meet
    """

    class Kind(models.TextChoices):
        LIKE = "like", _("Like")
        DISLIKE = "dislike", _("Dislike")
        CHOICE = "choice", _("Choice among N")
        EDIT = "edit", _("Edit")
        COMMENT = "comment", _("Comment")

    source = models.ForeignKey(FeedbackSource, on_delete=models.CASCADE, related_name="events")
    idempotency_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    messages = models.JSONField()
    responses = models.JSONField()
    chosen_index = models.SmallIntegerField(null=True, blank=True)
    edited_text = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    model = models.CharField(max_length=300, blank=True)
    prompt_version = models.CharField(max_length=200, blank=True)
    prompt_hash = models.CharField(max_length=64)
    app_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    user_ref = models.CharField(max_length=200, blank=True, help_text="the app's pseudonymous user id")
    metadata = models.JSONField(default=dict, blank=True)
    pii_replaced = models.PositiveIntegerField(default=0, help_text="how many PII spans the scrub replaced")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "idempotency_key"], name="feedback_event_key_unique_in_source"),
            models.CheckConstraint(condition=models.Q(kind__in=["like", "dislike", "choice", "edit", "comment"]),
                                   name="feedback_event_kind_valid"),
            models.CheckConstraint(condition=~models.Q(kind="choice") | models.Q(chosen_index__isnull=False),
                                   name="feedback_event_choice_has_index"),
        ]
        indexes = [
            models.Index(fields=["source", "occurred_at"]),
            models.Index(fields=["source", "kind", "occurred_at"]),
            models.Index(fields=["prompt_hash"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class FeedbackRateWindow(models.Model):
    """Events a source sent in one minute: the shared counter that rate-limits every server process alike."""

    source = models.ForeignKey(FeedbackSource, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    events = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "window_start"], name="feedback_rate_window_unique")]


class WorkbenchDraft(TimeStampedModel):
    """Candidates an agent is choosing among. Which endpoint and model wrote each one stays here, never in the page,
    until the pick is recorded as a FeedbackEvent."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    messages = models.JSONField()
    candidates = models.JSONField(
        help_text='[{"text", "model", "endpoint", "prompt_version", "reply_id", "side"}, ...] in shown order')
    picked_index = models.SmallIntegerField(null=True, blank=True)
    final_text = models.TextField(blank=True)
    picked_at = models.DateTimeField(null=True, blank=True)
    event_metadata = models.JSONField(
        default=dict, blank=True,
        help_text="added to the choice event's metadata at the pick (the assist preset: the slot and its two models)")

    class Meta:
        indexes = [models.Index(fields=["agent", "created_at"])]
