"""Annotation asks routing through ``annotation.routes``: the routing app answers; without it, nothing breaks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from annotation import routes
from annotation.models import Instance, Project
from annotation.workflow.queue import add_to_queue, instances_for_people
from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun
from routing.app.source import RoutingAppSource


@pytest.fixture
def routed_project(project: Project) -> tuple[Project, list[Instance], RoutingRun]:
    instances = Instance.objects.bulk_create(
        Instance(project=project, external_id=f"i{k}", prompt="p", response_a="a", response_b="b")
        for k in range(4)
    )
    ppm = PPMArtifact.objects.create(name="ppm-layers", kind="linear", path="unused")
    run = RoutingRun.objects.create(
        project=project, budget=1, strategy="top-k", ppm=ppm, predicted_performance=0.5
    )
    RoutingDecision.objects.bulk_create(
        RoutingDecision(run=run, instance=i, route="human" if k == 0 else "lm", gain=0.0)
        for k, i in enumerate(instances)
    )
    add_to_queue(project, instances[2:])  # the researcher's choice, overruled by the run
    return project, instances, run


def test_the_routing_app_registers_its_source_at_start_up():
    assert isinstance(routes.routing_source(), RoutingAppSource)


@pytest.mark.django_db
def test_the_routing_run_decides_through_the_interface(routed_project):
    project, instances, run = routed_project
    assert routes.latest_run_id(project) == run.pk
    assert list(instances_for_people(project).instances) == [instances[0]]
    facts = routes.routing_source().run_facts(run.pk)
    assert (facts.project_id, facts.strategy, facts.budget, facts.ppm_version) == (
        project.pk,
        "top-k",
        1,
        "ppm-layers",
    )


@pytest.mark.django_db
def test_without_a_routing_source_people_get_the_researchers_choice(routed_project, monkeypatch):
    project, instances, _ = routed_project
    monkeypatch.setattr(routes, "_source", None)
    assert routes.latest_run_id(project) is None
    annotated = Project.objects.filter(pk=project.pk).annotate(run=routes.latest_run_subquery()).get()
    assert annotated.run is None
    assert sorted(instances_for_people(project).instances, key=lambda i: i.pk) == instances[2:]


def test_the_import_contracts_hold():
    """Every import-linter contract of pyproject.toml (the layers of docs/ARCHITECTURE.md) is kept."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.fail(
            f"lint-imports is missing beside {sys.executable}: pip install import-linter (a dev dependency)"
        )
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:]
