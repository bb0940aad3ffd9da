"""Workflow rules on top of ``annotation.permissions`` (the one place roles are enforced)."""

from __future__ import annotations

from annotation import permissions
from annotation.models import Project
from annotation.workflow.qualification import status_of


class NotAllowed(Exception):
    """The user may not annotate here; ``code`` is 'not-annotator' or 'not-qualified'."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def check_can_annotate(user, project: Project) -> None:
    """Raise NotAllowed unless the user is an annotator of the project who passed its qualification."""
    if not permissions.is_annotator_on(user, project):
        raise NotAllowed("Only the project's annotators receive tasks.", "not-annotator")
    if not status_of(user, project).passed:
        raise NotAllowed("Pass this project's qualification test before annotating.", "not-qualified")


def can_annotate(user, project: Project) -> bool:
    try:
        check_can_annotate(user, project)
    except NotAllowed:
        return False
    return True
