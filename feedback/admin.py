"""Read-only admin: events are append-only, and sources and tokens change through the services (with history)."""

from django.contrib import admin

from feedback.models import FeedbackEvent, FeedbackIngestToken, FeedbackSource


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FeedbackSource)
class FeedbackSourceAdmin(ReadOnlyAdmin):
    list_display = ("name", "workspace", "kind", "pii_scrub", "rate_limit_per_minute", "created_at")


@admin.register(FeedbackIngestToken)
class FeedbackIngestTokenAdmin(ReadOnlyAdmin):
    list_display = ("prefix", "source", "created_at", "revoked_at")


@admin.register(FeedbackEvent)
class FeedbackEventAdmin(ReadOnlyAdmin):
    list_display = ("idempotency_key", "source", "kind", "model", "prompt_version", "occurred_at")
    list_filter = ("kind",)
