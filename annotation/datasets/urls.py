"""Included under /api/ (platform/urls.py includes this module when the app is installed)."""

from django.urls import path

from annotation.datasets import api

urlpatterns = [
    path(
        "projects/<slug:project>/datasets/", api.DatasetVersionListCreate.as_view(), name="dataset-versions"
    ),
    path(
        "projects/<slug:project>/datasets/<slug:version>/",
        api.DatasetVersionDetail.as_view(),
        name="dataset-version",
    ),
    path(
        "projects/<slug:project>/datasets/<slug:version>/exports/",
        api.ExportStart.as_view(),
        name="dataset-export",
    ),
    path(
        "projects/<slug:project>/exports/<int:job_id>/",
        api.ExportStatus.as_view(),
        name="dataset-export-status",
    ),
    path(
        "projects/<slug:project>/exports/<int:job_id>/download/",
        api.ExportDownload.as_view(),
        name="dataset-export-download",
    ),
    path("projects/<slug:project>/agreement/", api.AgreementReportView.as_view(), name="agreement-report"),
]
