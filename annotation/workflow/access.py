"""Workflow rules on top of ``annotation.permissions`` (the one place roles are enforced)."""

from __future__ import annotations

from annotation import permissions
from annotation.models import Project, UserProfile
from annotation.workflow.qualification import status_of


class NotAllowed(Exception):
    """The user may not annotate here; ``code`` is 'not-annotator', 'excluded' or 'not-qualified'."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def check_can_annotate(user, project: Project) -> None:
    """Raise NotAllowed unless the user is an annotator of the project who passed its qualification."""
    if not permissions.is_annotator_on(user, project):
        raise NotAllowed("Only the project's annotators receive tasks.", "not-annotator")
    if UserProfile.objects.filter(user=user, excluded=True).exists():
        # Their labels are left out of aggregation, so new tasks would only waste the budget.
        raise NotAllowed(
            "Your account is excluded from annotation; ask the project's researchers.", "excluded"
        )
    if not status_of(user, project).passed:
        raise NotAllowed("Pass this project's qualification test before annotating.", "not-qualified")


def can_annotate(user, project: Project) -> bool:
    try:
        check_can_annotate(user, project)
    except NotAllowed:
        return False
    return True
