from django.contrib import admin

from annotation.datasets.models import Aggregate, DatasetRow, DatasetVersion


@admin.register(Aggregate)
class AggregateAdmin(admin.ModelAdmin):
    list_display = ["instance", "method", "result", "strength", "agreement", "dropped", "updated_at"]
    list_filter = ["method", "dropped"]
    raw_id_fields = ["instance"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    """Read-only: versions are immutable once created."""

    list_display = ["name", "project", "mode", "created_at"]
    list_filter = ["project", "mode"]
    readonly_fields = ["project", "name", "mode", "params", "counts", "created_by", "created_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DatasetRow)
class DatasetRowAdmin(admin.ModelAdmin):
    list_display = ["version", "instance", "preference", "source"]
    list_filter = ["version", "source"]
    raw_id_fields = ["instance", "version"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False
