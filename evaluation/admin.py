from django.contrib import admin

from evaluation.models import Arm, Comparison, RaterExclusion, Showing, Study, Vote


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0
    fields = ("name", "is_baseline", "base_model", "artifact")
    readonly_fields = fields
    can_delete = False


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "status", "progress", "votes_per_comparison", "created_at")
    list_filter = ("status", "workspace")
    search_fields = ("name",)
    readonly_fields = ("status", "progress", "error", "created_by", "created_at", "updated_at")
    inlines = [ArmInline]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ("token", "study", "order", "is_identical", "vote_count")
    list_filter = ("is_identical",)
    list_select_related = ("study",)
    raw_id_fields = ("study", "prompt", "left_answer", "right_answer", "gold_answer", "repeat_of")
    readonly_fields = ("token", "vote_count")


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("comparison", "rater", "choice", "time_spent_ms", "created_at")
    list_filter = ("choice",)
    list_select_related = ("comparison", "rater")
    raw_id_fields = ("comparison", "rater")


@admin.register(Showing)
class ShowingAdmin(admin.ModelAdmin):
    list_display = ("comparison", "rater", "is_swapped", "is_pending", "served_at")
    list_select_related = ("comparison", "rater")
    raw_id_fields = ("study", "comparison", "rater")
    readonly_fields = ("study", "comparison", "rater", "is_swapped", "served_at")


@admin.register(RaterExclusion)
class RaterExclusionAdmin(admin.ModelAdmin):
    list_display = ("study", "rater", "excluded_by", "created_at")
    list_select_related = ("study", "rater", "excluded_by")
    raw_id_fields = ("study", "rater", "excluded_by")
