"""Who may open a project's researcher pages: the one rule every page of the researcher's loop uses."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from annotation import permissions
from annotation.models import Project


def managed_project(request: HttpRequest, name: str) -> Project:
    """The project, if this user manages it: 404 when it does not exist or the user is not a member (the same
    answer, so outsiders cannot probe names), 403 for its annotators."""
    project = get_object_or_404(permissions.visible_projects(request.user), name=name)
    if not permissions.can_manage_project(request.user, project):
        raise PermissionDenied("Only the project's researchers and admins may open its dashboard.")
    return project
