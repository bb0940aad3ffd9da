"""Fixtures for the workflow tests: projects of each scheme with routed instances and qualified annotators."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.conftest import make_user


def make_instances(project, n: int, prefix: str = "i", **extra):
    from annotation.models import Instance

    return Instance.objects.bulk_create(
        [
            Instance(
                project=project,
                external_id=f"{prefix}{k}",
                prompt=f"Prompt number {k}",
                response_a=f"Answer A to {k}",
                response_b=f"Answer B to {k}",
                **extra,
            )
            for k in range(n)
        ]
    )


def queue_all(project):
    from annotation.workflow.queue import add_to_queue

    add_to_queue(project, list(project.instances.all()))


def join(project, user, role: str = "annotator"):
    from annotation.models import ProjectMembership

    ProjectMembership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    return user


def qualify(project, user):
    """Record a passed attempt for the current guideline version."""
    from annotation.workflow.models import QualificationAttempt
    from annotation.workflow.settings_store import settings_for

    conf = settings_for(project)
    QualificationAttempt.objects.create(
        project=project,
        user=user,
        guideline_version=conf.guideline_version,
        item_ids=[],
        correct=1,
        score=1.0,
        passed=True,
        finished_at=timezone.now(),
    )
    return user


def qualified_annotator(project, name: str, domains: list[str] | None = None):
    from annotation.models import UserProfile

    user = make_user(name, "annotator")
    if domains:
        UserProfile.objects.filter(user=user).update(expert_domains=domains)
    join(project, user)
    return qualify(project, user)


def queued_project(researcher, name: str, n_instances: int, **instance_fields):
    """A MultiPref project whose instances all go to people, overlap 2 normal + 1 expert, no gold mixing and
    no minimum time per task."""
    from annotation.core.schemes import default_scheme_config
    from annotation.models import Project, ProjectMembership
    from annotation.workflow.settings_store import settings_for

    project = Project.objects.create(
        name=name,
        scheme=default_scheme_config("multipref"),
        overlap={"normal": 2, "expert": 1},
        created_by=researcher,
    )
    ProjectMembership.objects.create(project=project, user=researcher, role="researcher")
    make_instances(project, n_instances, **instance_fields)
    queue_all(project)
    conf = settings_for(project)
    conf.gold_rate = 0.0
    conf.min_seconds = 0
    conf.save()
    return project


@pytest.fixture
def mp_project(db, researcher):
    """A MultiPref project with 6 instances sent to people, overlap 2 normal + 1 expert, no gold mixing."""
    return queued_project(researcher, "mp", 6)


@pytest.fixture
def hs_project(db, researcher):
    from annotation.core.schemes import default_scheme_config
    from annotation.models import Project, ProjectMembership
    from annotation.workflow.settings_store import settings_for

    project = Project.objects.create(
        name="hs", scheme=default_scheme_config("helpsteer2"), overlap={"normal": 3}, created_by=researcher
    )
    ProjectMembership.objects.create(project=project, user=researcher, role="researcher")
    make_instances(project, 4, prefix="h")
    queue_all(project)
    conf = settings_for(project)
    conf.gold_rate = 0.0
    conf.min_seconds = 0
    conf.save()
    return project


MP_ANSWER = {
    "overall": "A-slightly",
    "aspects": {"helpfulness": "A-clearly", "truthfulness": "tie", "harmlessness": "B-slightly"},
    "reasons": {"helpfulness": ["correct", "concise"]},
    "justification": "",
}

HS_ANSWER = {
    "ratings": {
        "1": {"helpfulness": 4, "correctness": 4, "coherence": 3, "complexity": 2, "verbosity": 1},
        "2": {"helpfulness": 1, "correctness": 0, "coherence": 2, "complexity": 2, "verbosity": 3},
    },
    "preference": -3,
    "justification": "@Response 1 is much better than @Response 2 because it is correct.",
}
