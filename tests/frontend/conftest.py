"""A small managed project with something in every section of the dashboard."""

from __future__ import annotations

import pytest


def fill_project(project) -> None:
    """Instances, imported and collected human labels, an LM judge, tags, a routing run, a dataset version
    and an export job: every section of the dashboard has a row."""
    from annotation.datasets.services import build_dataset_version
    from annotation.models import HumanLabel, Instance, Job, LMLabel
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun, TagValue

    instances = Instance.objects.bulk_create(
        Instance(project=project, external_id=f"i{k}", prompt=f"p{k}", response_a=f"a{k}", response_b=f"b{k}")
        for k in range(6)
    )
    for k, instance in enumerate(instances):
        for j in range(3):
            HumanLabel.objects.create(
                instance=instance,
                annotator_ref=f"h{j}",
                source="imported" if j < 2 else "platform",
                preference=-1 if (k + j) % 3 else 1,
            )
        LMLabel.objects.create(instance=instance, judge="judge-x", prompt_version="v1", preference=-1)
    TagValue.objects.bulk_create(
        TagValue(instance=i, tag="rouge", value=0.5, extractor="textual", extractor_version="t1")
        for i in instances[:4]
    )
    ppm = PPMArtifact.objects.create(name="ppm-dash", kind="quadratic", path="unused")
    run = RoutingRun.objects.create(
        project=project, budget=2, strategy="simulated", ppm=ppm, predicted_performance=0.7123
    )
    RoutingDecision.objects.bulk_create(
        RoutingDecision(run=run, instance=inst, route="human" if k < 2 else "lm", gain=0.1)
        for k, inst in enumerate(instances)
    )
    version = build_dataset_version(project, "v1", routing_run=run.pk, judge="judge-x")
    Job.objects.create(
        kind="export_dataset",
        project=project,
        status=Job.Status.SUCCEEDED,
        params={"version": version.pk, "version_name": "v1"},
        result={"download_url": f"/api/projects/{project.name}/exports/999/download/"},
    )
    Job.objects.create(kind="import", project=project, status=Job.Status.FAILED, error="line 3: bad prompt")


@pytest.fixture
def filled(project):
    fill_project(project)
    return project
