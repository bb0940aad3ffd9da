from django.contrib import admin

from annotation.workflow.models import (
    Assignment,
    GoldAnswer,
    HumanQueueEntry,
    QualificationAttempt,
    QualificationItem,
    WorkflowSettings,
)
from annotation.workflow.quota import ensure_quota_rows


@admin.register(WorkflowSettings)
class WorkflowSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "project",
        "qualification_required",
        "pass_mark",
        "items_drawn",
        "guideline_version",
        "gold_rate",
    ]


@admin.register(QualificationItem)
class QualificationItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "short_prompt", "expected", "active"]
    list_filter = ["project", "expected", "active"]
    search_fields = ["prompt"]

    @admin.display(description="prompt")
    def short_prompt(self, obj: QualificationItem) -> str:
        return obj.prompt[:80]


@admin.register(QualificationAttempt)
class QualificationAttemptAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "user",
        "guideline_version",
        "score",
        "passed",
        "started_at",
        "finished_at",
    ]
    list_filter = ["project", "passed", "guideline_version"]
    search_fields = ["user__username"]


@admin.register(HumanQueueEntry)
class HumanQueueEntryAdmin(admin.ModelAdmin):
    list_display = ["instance", "project", "added_by", "created_at"]
    list_filter = ["project"]
    raw_id_fields = ["instance"]

    def save_model(self, request, obj: HumanQueueEntry, form, change) -> None:
        """An instance sent to people here gets its quota row at once, as through the API."""
        super().save_model(request, obj, form, change)
        ensure_quota_rows(obj.project_id, [obj.instance_id])


@admin.register(GoldAnswer)
class GoldAnswerAdmin(admin.ModelAdmin):
    list_display = ["instance", "preference", "neither_valid"]
    raw_id_fields = ["instance"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "instance", "user", "tier", "status", "shown_swapped", "expires_at"]
    list_filter = ["status", "tier", "instance__project"]
    search_fields = ["user__username", "instance__external_id"]
    raw_id_fields = ["instance", "user", "label"]
