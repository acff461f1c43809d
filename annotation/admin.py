from django.contrib import admin

from annotation.models import Annotation, AnnotationProject, AnnotationTask, Assignment, Label, LabelSchema


class LabelInline(admin.TabularInline):
    model = Label
    fields = ["path", "description", "order"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(LabelSchema)
class LabelSchemaAdmin(admin.ModelAdmin):
    # A published schema never changes: the admin shows it, it does not edit it.
    list_display = ["name", "version", "workspace", "multiple", "leaf_only", "published_at"]
    list_filter = ["workspace"]
    readonly_fields = ["workspace", "name", "version", "multiple", "leaf_only", "published_at", "created_by"]
    inlines = [LabelInline]


@admin.register(AnnotationProject)
class AnnotationProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "dataset_version", "schema", "overlap", "status", "created_at"]
    list_filter = ["status", "workspace"]
    list_select_related = ["workspace", "dataset_version__dataset", "schema"]
    raw_id_fields = ["dataset_version", "schema", "created_by"]


@admin.register(AnnotationTask)
class AnnotationTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "entry", "submitted_count", "is_complete"]
    list_filter = ["is_complete"]
    raw_id_fields = ["project", "entry"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "slot", "status", "claimed_at", "expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["task", "annotator"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "annotator_kind", "time_spent_ms", "created_at"]
    list_filter = ["annotator_kind"]
    raw_id_fields = ["task", "assignment", "annotator"]
