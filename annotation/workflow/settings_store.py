"""Per-project workflow settings, created with defaults on first use.

The settings travel with the project object (Django's cache of the reverse one-to-one relation): a request
reads them once, or not at all when the project was loaded with ``select_related("workflow_settings")``.
A project object lives for one request, so a change saved by someone else is seen by the next request.
"""

from __future__ import annotations

from annotation.models import Project
from annotation.workflow.models import WorkflowSettings


def settings_for(project: Project) -> WorkflowSettings:
    try:
        return project.workflow_settings
    except WorkflowSettings.DoesNotExist:
        pass
    obj, _ = WorkflowSettings.objects.get_or_create(project=project)
    project.workflow_settings = obj  # cache it on the project for the rest of the request
    return obj
