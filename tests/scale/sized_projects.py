"""Projects of a chosen size, with routed and submitted work written directly, for the page-size tests
(the dashboard, results and progress pages must cost the same number of queries at any size)."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.workflow.conftest import make_instances

LARGE_TABLES = (
    "annotation_humanlabel",
    "annotation_lmlabel",
    "routing_tagvalue",
    "workflow_assignment",
    "routing_routingdecision",
)


def fill(project, n: int, people: list) -> None:
    """``n`` instances with 2 imported votes and an LM label each, one tag, a routing run sending half to
    people, a finished tags job, and the people's submitted assignments (with labels) on a quarter."""
    from annotation.models import HumanLabel, Job, LMLabel
    from annotation.workflow.models import Assignment
    from annotation.workflow.quota import ensure_quota_rows
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun, TagValue
    from routing.app.tasks import TAGS_JOB

    instances = make_instances(project, n)
    HumanLabel.objects.bulk_create(
        HumanLabel(instance=i, annotator_ref=f"r{v}", source="imported", preference=1)
        for i in instances
        for v in range(2)
    )
    LMLabel.objects.bulk_create(
        LMLabel(instance=i, judge="j", prompt_version="v1", preference=-1) for i in instances
    )
    TagValue.objects.bulk_create(
        TagValue(instance=i, tag="rouge", value=0.5, extractor="textual", extractor_version="t1")
        for i in instances
    )
    Job.objects.create(kind=TAGS_JOB, project=project, status=Job.Status.SUCCEEDED, result={"instances": n})
    ppm = PPMArtifact.objects.create(name=f"ppm-{n}", kind="quadratic", path="unused")
    run = RoutingRun.objects.create(
        project=project, budget=n // 2, strategy="simulated", ppm=ppm, predicted_performance=0.7
    )
    RoutingDecision.objects.bulk_create(
        RoutingDecision(run=run, instance=i, route="human" if k < n // 2 else "lm", gain=0.1)
        for k, i in enumerate(instances)
    )
    for person in people:
        for instance in instances[: n // 4]:
            label = HumanLabel.objects.create(
                instance=instance, annotator_ref=f"user:{person.pk}", annotator=person, preference=1
            )
            Assignment.objects.create(
                instance=instance,
                user=person,
                tier="normal",
                status="submitted",
                served_at=label.created_at,
                expires_at=label.created_at,
                label=label,
            )
    ensure_quota_rows(project, [i.pk for i in instances[: n // 2]])
    # The assignments above were written directly, past the workflow: count the routed instances' progress
    # rows as the first next-task after a routing run would (the repair command does all of it at once).
    call_command("rebuild_quota_counters", project.name, stdout=StringIO())


def sized_project(researcher, name: str):
    from annotation.core.schemes import default_scheme_config
    from annotation.models import Project, ProjectMembership

    project = Project.objects.create(
        name=name,
        scheme=default_scheme_config("multipref"),
        overlap={"normal": 2, "expert": 0},
        created_by=researcher,
    )
    ProjectMembership.objects.create(project=project, user=researcher, role="researcher")
    return project


def page_statements(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in captured.captured_queries]
