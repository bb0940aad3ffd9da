"""Workflow rules on top of ``annotation.permissions`` (the one place roles are enforced).

Who may annotate is read in one query (``annotating``): the project with its workflow settings, whether the
person is one of its annotators, excluded, qualified, their expert domains and the project's latest routing
run. Everything a task request needs about the person is then at hand, so next-task and submit stay a
handful of queries (docs/WORKFLOW.md, "Query budget").
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, JSONField, OuterRef, QuerySet, Subquery

from annotation import permissions
from annotation.api.prepared import prepared
from annotation.models import Project, ProjectMembership, ProjectRole, UserProfile
from annotation.routes import latest_run_subquery, routing_source
from annotation.workflow.models import QualificationAttempt, WorkflowSettings
from annotation.workflow.settings_store import settings_for


class NotAllowed(Exception):
    """The user may not annotate here; ``code`` is 'not-annotator', 'excluded' or 'not-qualified'."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Annotating:
    """What one request knows about an annotator of a project (read once, used by every step)."""

    user: object
    project: Project
    settings: WorkflowSettings
    expert_domains: list[str]
    latest_run: int | None


def with_annotator_facts(projects: QuerySet[Project], user) -> QuerySet[Project]:
    """Projects annotated with what decides whether ``user`` may annotate them (one query, indexed)."""
    profile = UserProfile.objects.filter(user=user)
    passed = QualificationAttempt.objects.filter(
        project=OuterRef("pk"), user=user, passed=True, finished_at__isnull=False
    )
    return projects.select_related("workflow_settings").annotate(
        wf_annotator=Exists(
            ProjectMembership.objects.filter(project=OuterRef("pk"), user=user, role=ProjectRole.ANNOTATOR)
        ),
        wf_excluded=Subquery(profile.values("excluded")[:1]),
        wf_domains=Subquery(profile.values("expert_domains")[:1], output_field=JSONField()),
        wf_passed_current=Exists(
            passed.filter(guideline_version=OuterRef("workflow_settings__guideline_version"))
        ),
        wf_passed_any=Exists(passed),
        wf_latest_run=latest_run_subquery("pk"),
    )


def _named_with_facts(name: str, user_id: int) -> QuerySet[Project]:
    return with_annotator_facts(Project.objects.filter(name=name), user_id)[:1]


def annotator_project(user, name: str) -> Project | None:
    """The named project read with the annotator facts, when ``user`` is one of its annotators.

    Annotator membership implies the project is visible, so this one query replaces the visibility check on
    the annotator's hot path; anyone else (None) goes through ``permissions.visible_projects``. Every task
    request asks it, so it is a prepared query (compiled once per process).
    """
    if not user.is_authenticated:
        return None
    key = ("annotator-project", routing_source() is not None)
    found = prepared(key, _named_with_facts, name=name, user_id=user.pk)
    return found[0] if found and found[0].wf_annotator else None


def annotating(user, project: Project) -> Annotating:
    """Raise NotAllowed unless the user is an annotator of the project who passed its qualification."""
    if not hasattr(project, "wf_annotator"):
        project = with_annotator_facts(Project.objects.filter(pk=project.pk), user).get()
    if not (user.is_authenticated and project.wf_annotator):
        raise NotAllowed("Only the project's annotators receive tasks.", "not-annotator")
    if project.wf_excluded:
        # Their labels are left out of aggregation, so new tasks would only waste the budget.
        raise NotAllowed(
            "Your account is excluded from annotation; ask the project's researchers.", "excluded"
        )
    conf = settings_for(project)
    passed = project.wf_passed_current if conf.requalify_on_new_version else project.wf_passed_any
    if conf.qualification_required and not passed and not _passed_now(user, project, conf):
        raise NotAllowed("Pass this project's qualification test before annotating.", "not-qualified")
    domains = [d for d in (project.wf_domains or []) if isinstance(d, str)]
    return Annotating(user, project, conf, domains, project.wf_latest_run)


def _passed_now(user, project: Project, conf: WorkflowSettings) -> bool:
    """Asked only when the settings row was created by this request (the query above could not join it)."""
    if project.wf_passed_any is False:
        return False
    attempts = QualificationAttempt.objects.filter(
        project=project, user=user, passed=True, finished_at__isnull=False
    )
    if conf.requalify_on_new_version:
        attempts = attempts.filter(guideline_version=conf.guideline_version)
    return attempts.exists()


def check_can_annotate(user, project: Project) -> None:
    """Raise NotAllowed unless the user may annotate the project (see ``annotating``)."""
    annotating(user, project)


def can_annotate(user, project: Project) -> bool:
    try:
        check_can_annotate(user, project)
    except NotAllowed:
        return False
    return True


def visible_project(user, name: str) -> Project | None:
    """The named project if ``user`` may see it (annotators through the one-query path)."""
    return annotator_project(user, name) or permissions.visible_projects(user).filter(name=name).first()
