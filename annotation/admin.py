from django.contrib import admin

from annotation.models import HumanLabel, Instance, Job, LMLabel, Project, ProjectMembership, UserProfile


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "human_budget", "human_budget_fraction", "created_at"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "excluded"]
    list_filter = ["role", "excluded"]
    search_fields = ["user__username"]


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "model_a", "model_b", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "prompt"]


@admin.register(HumanLabel)
class HumanLabelAdmin(admin.ModelAdmin):
    list_display = ["instance", "annotator_ref", "source", "preference", "neither_valid", "created_at"]
    list_filter = ["source", "instance__project"]
    search_fields = ["annotator_ref", "instance__external_id"]
    raw_id_fields = ["instance", "annotator"]


@admin.register(LMLabel)
class LMLabelAdmin(admin.ModelAdmin):
    list_display = ["instance", "judge", "prompt_version", "source", "preference", "confidence", "consistent"]
    list_filter = ["judge", "source", "instance__project"]
    raw_id_fields = ["instance"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["params", "result", "error", "celery_task_id"]
