"""Django admin for LM endpoints: the only place where an LM server, its model and its key variable are chosen."""

from django.contrib import admin

from annotation.judging.models import LMEndpoint


@admin.register(LMEndpoint)
class LMEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "backend", "model", "base_url", "api_key_setting", "max_tokens", "enabled"]
    list_filter = ["backend", "enabled"]
    search_fields = ["name", "model", "description"]
