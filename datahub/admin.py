"""Read-mostly admin: records and versions are changed only through services, so they are shown, not edited."""

from django.contrib import admin

from datahub.models import Dataset, DatasetVersion, ImportJob, Record, Source


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "kind", "quality_tier", "created_at"]
    list_filter = ["kind", "quality_tier"]
    list_select_related = ["workspace"]
    search_fields = ["name"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "created_by", "created_at"]
    list_select_related = ["workspace", "created_by"]
    search_fields = ["name"]
    readonly_fields = ["created_by"]


@admin.register(Record)
class RecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "dataset", "kind", "source", "origin", "line_number", "created_at"]
    list_filter = ["kind", "origin"]
    list_select_related = ["dataset", "source"]
    raw_id_fields = ["dataset", "source", "parent", "import_job"]


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "file_name",
        "dataset",
        "status",
        "processed",
        "total",
        "created_count",
        "duplicate_count",
        "created_at",
    ]
    list_filter = ["status", "format"]
    list_select_related = ["dataset"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["id", "dataset", "number", "operation", "seed", "manifest_hash", "created_at"]
    list_select_related = ["dataset"]
