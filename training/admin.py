from django.contrib import admin

from training.models import BaseModel, MetricPoint, ModelArtifact, TrainingRun


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "architecture", "parameter_count", "has_chat_template", "created_at"]
    list_filter = ["workspace", "has_chat_template"]
    search_fields = ["name", "path"]
    readonly_fields = ["architecture", "parameter_count", "config", "has_chat_template", "warnings"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    """Read-mostly: runs change state through training.services, never by hand here."""

    list_display = ["name", "workspace", "status", "method", "adapter", "progress", "created_at", "finished_at"]
    list_filter = ["status", "method", "adapter", "workspace"]
    search_fields = ["name"]
    list_select_related = ["workspace"]
    readonly_fields = [
        "status",
        "cancel_requested",
        "output_dir",
        "heartbeat_at",
        "started_at",
        "finished_at",
        "error",
        "progress",
        "hyperparameters",
        "base_model",
        "dataset_version",
        "created_by",
    ]


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ["run", "step", "epoch", "created_at"]
    list_select_related = ["run"]
    readonly_fields = ["run", "step", "epoch", "values"]


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "kind", "base_model", "run", "created_at"]
    list_filter = ["kind", "workspace"]
    list_select_related = ["workspace", "base_model", "run"]
    readonly_fields = ["run", "base_model", "dataset_version", "kind", "path"]
