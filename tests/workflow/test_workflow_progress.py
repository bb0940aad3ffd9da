"""The maintained progress counters stay exact: through submits (on time and late), skips, undone skips,
expired leases, edits and a new routing run, compared after each step with a count from the assignments;
and ``rebuild_quota_counters`` repairs a corrupted counter shard and a corrupted per-instance row."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from annotation.workflow import assignment as tasks
from annotation.workflow import progress
from annotation.workflow.edits import edit_label, undo_skip
from annotation.workflow.models import Assignment, ProgressCounter, ProgressState
from annotation.workflow.queue import instances_for_people
from tests.workflow.conftest import MP_ANSWER, qualified_annotator, queued_project

pytestmark = pytest.mark.django_db
EDITED = {**MP_ANSWER, "overall": "B-clearly"}


@pytest.fixture
def project(researcher):
    """Eight instances of the math domain for people, 2 normal + 1 expert answers each, no gold mixing."""
    return queued_project(researcher, "counted", 8, metadata={"domain": "math"})


def assert_exact(project) -> dict:
    """The source's counters and rows equal what the assignments say; returns the totals."""
    source = instances_for_people(project)
    routed = set(source.instances.values_list("pk", flat=True))
    quota = progress.tier_quotas(project)
    per_instance = {i: {"normal": 0, "expert": 0} for i in routed}
    submitted = Assignment.objects.filter(instance_id__in=routed, status="submitted", tier__in=quota)
    for instance_id, tier in submitted.values_list("instance_id", "tier"):
        per_instance[instance_id][tier] += 1
    rows = ProgressState.objects.filter(project=project, source_key=source.key, counted=True)
    assert {r.instance_id: {"normal": r.normal, "expert": r.expert} for r in rows} == per_instance
    expected = {
        "instances": len(routed),
        "complete": sum(progress.is_complete(c, quota) for c in per_instance.values()),
        "normal": sum(c["normal"] for c in per_instance.values()),
        "expert": sum(c["expert"] for c in per_instance.values()),
    }
    assert progress.totals(project, source.key) == expected
    return expected


def _answer(person, project, answer=MP_ANSWER):
    task = tasks.next_task(person, project).assignment
    assert task is not None
    return tasks.submit(task.pk, person, answer, lease_token=task.lease_token), task


def test_counters_follow_submit_skip_expiry_undo_edit_and_late_submit(project):
    normal = [qualified_annotator(project, f"n{k}") for k in range(3)]
    expert = qualified_annotator(project, "expert", domains=["math"])
    assert assert_exact(project) == {"instances": 8, "complete": 0, "normal": 0, "expert": 0}

    for person in normal[:2]:
        _answer(person, project)
    label, _ = _answer(expert, project)
    assert assert_exact(project) == {"instances": 8, "complete": 1, "normal": 2, "expert": 1}

    held = tasks.next_task(normal[2], project).assignment
    tasks.skip(held.pk, normal[2], "unsure", lease_token=held.lease_token)
    assert_exact(project)
    taken_back = undo_skip(held.pk, normal[2], project)
    tasks.submit(taken_back.pk, normal[2], MP_ANSWER, lease_token=taken_back.lease_token)
    assert assert_exact(project)["normal"] == 3

    edit_label(Assignment.objects.get(label=label).pk, expert, project, EDITED)
    assert assert_exact(project)["expert"] == 1

    late = tasks.next_task(normal[0], project).assignment
    Assignment.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    tasks.next_task(expert, project)  # reclaims the expired lease (and takes an expert slot)
    assert_exact(project)
    tasks.submit(late.pk, normal[0], MP_ANSWER, lease_token=late.lease_token)  # late, a slot is still open
    totals = assert_exact(project)
    assert totals["normal"] == 4 and Assignment.objects.filter(status="submitted").count() == 5


def test_a_new_routing_run_gets_its_own_exact_counters(project):
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun

    people = [qualified_annotator(project, f"r{k}") for k in range(2)]
    for person in people:
        _answer(person, project)
    assert assert_exact(project)["complete"] == 0  # no expert answered yet
    instances = list(project.instances.order_by("pk"))
    ppm = PPMArtifact.objects.create(name="counted-ppm", kind="quadratic", path="unused")
    run = RoutingRun.objects.create(
        project=project, budget=3, strategy="simulated", ppm=ppm, predicted_performance=0.7
    )
    RoutingDecision.objects.bulk_create(
        RoutingDecision(run=run, instance=i, route="human" if k in (0, 1, 5) else "lm", gain=0.1)
        for k, i in enumerate(instances)
    )
    _answer(people[0], project)  # the first next-task after the run counts its instances
    totals = assert_exact(project)
    assert totals["instances"] == 3 and totals["normal"] == 3
    expert = qualified_annotator(project, "run-expert", domains=["math"])
    _answer(expert, project)
    assert assert_exact(project)["complete"] == 1
    project.overlap = {"normal": 1, "expert": 0}  # "complete" depends on the quota: the repair recounts it
    project.save()
    call_command("rebuild_quota_counters", project.name, stdout=StringIO())
    assert assert_exact(project)["complete"] == 2


def test_rebuild_repairs_a_corrupted_counter_and_row(project):
    people = [qualified_annotator(project, f"c{k}") for k in range(2)]
    for person in people:
        _answer(person, project)
    before = assert_exact(project)
    ProgressCounter.objects.filter(project=project).update(complete=99, normal=0)
    row = ProgressState.objects.filter(project=project, normal__gt=0).first()
    ProgressState.objects.filter(pk=row.pk).update(normal=7)
    out = StringIO()
    call_command("rebuild_quota_counters", project.name, stdout=out)
    assert assert_exact(project) == before
    printed = out.getvalue()
    assert "1 progress rows of counted were missing or wrong" in printed, printed
    assert "progress counter shards were wrong" in printed and " 0 progress counter" not in printed
