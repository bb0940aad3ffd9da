"""Workflow API, included under /api/ by platform.urls when the app is installed."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from annotation.workflow import api, edits

router = SimpleRouter()
router.register("qualification/items", api.QualificationItemViewSet, basename="qualification-item")
router.register("gold", api.GoldAnswerViewSet, basename="gold-answer")

prefix = "projects/<slug:project>/"
urlpatterns = [
    path(prefix, include(router.urls)),
    path(prefix + "workflow/settings/", api.WorkflowSettingsView.as_view(), name="workflow-settings"),
    path(prefix + "workflow/me/", api.MyStatusView.as_view(), name="workflow-me"),
    path(
        prefix + "qualification/attempts/", api.QualificationAttemptView.as_view(), name="qualification-start"
    ),
    path(
        prefix + "qualification/attempts/<int:attempt>/submit/",
        api.QualificationSubmitView.as_view(),
        name="qualification-submit",
    ),
    path(prefix + "tasks/next/", api.NextTaskView.as_view(), name="task-next"),
    path(prefix + "tasks/<int:task>/submit/", api.SubmitTaskView.as_view(), name="task-submit"),
    path(prefix + "tasks/<int:task>/skip/", api.SkipTaskView.as_view(), name="task-skip"),
    path(prefix + "tasks/recent/", edits.RecentTasksView.as_view(), name="task-recent"),
    path(prefix + "tasks/<int:task>/edit/", edits.EditTaskView.as_view(), name="task-edit"),
    path(prefix + "tasks/<int:task>/unskip/", edits.UnskipTaskView.as_view(), name="task-unskip"),
    path(prefix + "tasks/<int:task>/history/", edits.TaskHistoryView.as_view(), name="task-history"),
    path(prefix + "human-queue/", api.HumanQueueView.as_view(), name="human-queue"),
    path(prefix + "progress/", api.ProgressView.as_view(), name="workflow-progress"),
]
