"""Watching a deployment slot: its drift thresholds and where alerts go, the alerts the daily check raised, and each
attempt to deliver one (e-mail or signed webhook)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from common.models import TimeStampedModel
from releases.models import Deployment


class MonitoringRule(TimeStampedModel):
    """A slot's drift thresholds (monitoring.drift states the rule) and its alert channels. A slot without a row uses
    the defaults."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="monitoring_rule")
    baseline_days = models.PositiveSmallIntegerField(default=7,
                                                     help_text="the model's first days that set its baseline")
    window_days = models.PositiveSmallIntegerField(default=3, help_text="the recent days compared with the baseline")
    min_events = models.PositiveIntegerField(default=30,
                                             help_text="fewer events than this in either period: no verdict")
    latency_factor = models.FloatField(default=1.5, help_text="p95 latency above baseline p95 × this raises an alert")
    email = models.EmailField(blank=True, help_text="who gets alerts by e-mail; empty: none")
    webhook_url = models.URLField(blank=True, help_text="where alerts are POSTed; empty: none")
    webhook_secret = models.CharField(max_length=128, blank=True, help_text="the HMAC-SHA256 key of the webhook body")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(baseline_days__gte=1, window_days__gte=1),
                                   name="monitoring_rule_periods_positive"),
            models.CheckConstraint(condition=models.Q(latency_factor__gt=1), name="monitoring_rule_latency_factor"),
        ]

    def __str__(self) -> str:
        return f"monitoring of {self.deployment_id}"


class DriftAlert(models.Model):
    """One series of one model on a slot left its baseline. At most one open alert per series; it closes on the first
    checked day the rule no longer fires, so a lasting drop raises one alert, not one a day."""

    class Series(models.TextChoices):
        LIKE_RATIO = "like_ratio", _("Like ratio")
        PICK_SHARE = "pick_share", _("Pick share")
        EDIT_RATE = "edit_rate", _("Edit rate")
        LATENCY_P95 = "latency_p95", _("p95 latency")

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="drift_alerts")
    series = models.CharField(max_length=16, choices=Series.choices)
    model_key = models.CharField(max_length=40, help_text='"artifact:<id>" or "base:<id>"')
    model_name = models.CharField(max_length=200)
    prompt_version = models.CharField(max_length=200, blank=True, help_text="empty: all prompt versions")
    rule = models.TextField(help_text="the rule as stated when it fired")
    figures = models.JSONField(help_text="the numbers the rule compared")
    raised_on = models.DateField(help_text="the checked day it fired")
    closed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "series", "model_key", "prompt_version"],
                                    condition=models.Q(closed_on__isnull=True), name="drift_alert_one_open_per_series"),
        ]
        indexes = [models.Index(fields=["deployment", "-raised_on"])]

    def __str__(self) -> str:
        return f"{self.series} of {self.model_name} on {self.deployment_id}"


class AlertDelivery(models.Model):
    """One channel's delivery of an alert: its attempts and outcome (the delivery log)."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Webhook")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    alert = models.ForeignKey(DriftAlert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="alert_delivery_one_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel} of alert {self.alert_id}"
