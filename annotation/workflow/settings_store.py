"""Per-project workflow settings, created with defaults on first use."""

from __future__ import annotations

from annotation.models import Project
from annotation.workflow.models import WorkflowSettings


def settings_for(project: Project) -> WorkflowSettings:
    found = WorkflowSettings.objects.filter(project=project).first()
    if found is not None:
        return found
    obj, _ = WorkflowSettings.objects.get_or_create(project=project)
    return obj
