"""URL map. Each app contributes its own ``urls`` module; optional apps are included when installed."""

from django.apps import apps
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotation.api.auth import TokenView

# (app module, its API urls module) for the sub-apps, included when installed.
OPTIONAL_API_URLS = [
    ("annotation.workflow", "annotation.workflow.urls"),
    ("annotation.judging", "annotation.judging.urls"),
    ("annotation.datasets", "annotation.datasets.urls"),
    ("routing.app", "routing.app.urls"),
    ("routing.training_runs", "routing.training_runs.urls"),
]

api_patterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", include("annotation.api.urls")),
]
for app_module, urls_module in OPTIONAL_API_URLS:
    if apps.is_installed(app_module):
        api_patterns.append(path("", include(urls_module)))

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("frontend.urls")),
]
if apps.is_installed("annotation.workflow"):
    # The annotator's pages (qualification test, task page) live with the workflow app.
    urlpatterns.append(path("annotate/", include("annotation.workflow.page_urls")))
