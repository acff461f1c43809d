"""Read-only admin: dedupe runs change only through their services (dry run, override, apply)."""

from django.contrib import admin

from datahub.admin import ReadOnlyAdmin
from dedupe.models import DedupeRun


@admin.register(DedupeRun)
class DedupeRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "dataset", "version", "status", "record_count", "drop_count", "cluster_count", "created_at"]
    list_filter = ["status", "use_exact", "use_near", "use_semantic"]
    list_select_related = ["dataset", "version"]
