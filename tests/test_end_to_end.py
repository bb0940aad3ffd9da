"""The whole pipeline on real data, through the same commands, services and API a user calls:

import (with the dataset's human votes and GPT-3.5 labels) -> textual tags (real MiniLM, spaCy) -> the PPM
loop (proxy reward models on candidate mixes) -> routing under a budget with the PPM the loop fitted ->
people annotate exactly the routed instances in the API -> the hybrid dataset version -> export with provenance.
"""

from __future__ import annotations

import json
from itertools import islice

import pandas as pd
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from annotation.datasets.exporting import export_version
from annotation.datasets.services import build_dataset_version
from annotation.models import HumanLabel, LabelSource, Project
from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun, TagValue
from routing.training_runs.models import PPMLoopRun
from tests.workflow.conftest import MP_ANSWER, qualified_annotator

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
N_INSTANCES = 40


def annotate_everything(client: APIClient, project: Project, user) -> list[str]:
    client.force_authenticate(user)
    done = []
    for _ in range(N_INSTANCES):
        task = client.post(f"/api/projects/{project.name}/tasks/next/", format="json").json()["task"]
        if task is None:
            break
        reply = client.post(
            f"/api/projects/{project.name}/tasks/{task['id']}/submit/",
            {"answer": MP_ANSWER, "lease_token": task["lease_token"]},
            format="json",
        )
        assert reply.status_code in (200, 201), reply.content
        done.append(task["instance"])
    return done


def test_import_tag_loop_route_annotate_assemble_export(pandalm_path, tmp_path, capsys):
    subset = tmp_path / "pandalm-40.jsonl"
    with pandalm_path.open() as source:
        subset.write_text("".join(islice(source, N_INSTANCES)))
    call_command("import_instances", "e2e", str(subset))
    project = Project.objects.get(name="e2e")
    project.overlap = {"normal": 2, "expert": 0}
    project.save()

    call_command("compute_tags", "e2e")
    assert (
        TagValue.objects.filter(instance__project=project).values("instance").distinct().count()
        == N_INSTANCES
    )

    call_command("ppm_loop", "e2e", "--k", "24", "--sync", "--lm-judge", "gpt-3.5-turbo")
    loop = PPMLoopRun.objects.get(project=project)
    assert loop.status == "succeeded", loop.error
    ppm = PPMArtifact.objects.filter(name__startswith=f"ppm-loop-{loop.pk}-").first()
    assert ppm is not None and "spearman" in json.dumps(ppm.metrics)

    call_command("route", "e2e", "--ppm", ppm.name, "--budget", "0.25", "--strategy", "greedy")
    run = RoutingRun.objects.get(project=project)
    human = set(
        RoutingDecision.objects.filter(run=run, route="human").values_list("instance__external_id", flat=True)
    )
    assert len(human) == run.budget == 10

    client = APIClient()
    first = annotate_everything(client, project, qualified_annotator(project, "ann-1"))
    second = annotate_everything(client, project, qualified_annotator(project, "ann-2"))
    assert set(first) == set(second) == human  # people see exactly the routed instances
    assert HumanLabel.objects.filter(instance__project=project, source=LabelSource.PLATFORM).count() == 20

    version = build_dataset_version(project, "hybrid-v1", routing_run=run.pk, judge="gpt-3.5-turbo")
    assert version.counts["human_routed"] == 10
    export_version(version, tmp_path / "export", formats=["jsonl"], forms=["pairwise"])
    rows = pd.read_json(next((tmp_path / "export").rglob("pairwise.jsonl")), lines=True)
    routed_rows = rows[rows["source"] == "human"]
    assert set(routed_rows["routing_strategy"]) == {"greedy"} and set(rows["ppm_version"]) == {ppm.name}
    assert len(routed_rows) <= 10 and (rows["source"] == "lm").any()
