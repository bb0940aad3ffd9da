"""Annotator pages, included under /annotate/ by platform.urls when the app is installed."""

from django.urls import path

from annotation.workflow import views

urlpatterns = [
    path("", views.workflow_home, name="workflow-home"),
    path("<slug:project>/qualify/", views.qualification, name="workflow-qualification"),
    path("<slug:project>/task/", views.task_page, name="workflow-task"),
    path("<slug:project>/task/<int:task>/edit/", views.edit_page, name="workflow-edit"),
    path("<slug:project>/progress/", views.progress_page, name="workflow-progress-page"),
]
