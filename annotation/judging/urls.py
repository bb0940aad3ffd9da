"""Included under /api/ (platform/urls.py includes this module when the app is installed)."""

from django.urls import path

from annotation.judging import api

urlpatterns = [
    path("projects/<slug:project>/judge-report/", api.JudgeReport.as_view(), name="judge-report"),
    path("projects/<slug:project>/judge-jobs/", api.StartJob.as_view(), name="judge-jobs"),
    path("projects/<slug:project>/tag-jobs/", api.StartTagJob.as_view(), name="tag-jobs"),
    path("lm-endpoints/", api.LMEndpointList.as_view(), name="lm-endpoints"),
]
