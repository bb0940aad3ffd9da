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


def tag_and_fit(project, ppm_name: str = "ppm-frontend", k: int = 150, seed: int = 0):
    """Textual tags and a fitted, registered PPM for ``project`` in well under a second.

    Length tags are the real word counts; the similarity tags are seeded draws (computing them needs
    MiniLM and spaCy, which the routing tests cover). The PPM is fitted, by the routing core, on candidate
    mixes whose score rises with the human share of long pairs: the shape the demo data is built to have.
    """
    import numpy as np

    from routing.app.models import TagValue
    from routing.app.services import EXTRACTOR, project_tag_table, register_ppm, tag_versions
    from routing.candidates import generate_candidates
    from routing.config import RECOMMENDED
    from routing.features import FeatureBuilder
    from routing.ppm import PPM
    from routing.textual import LENGTH_TAGS, TAG_NAMES

    rng = np.random.default_rng(seed)
    versions = tag_versions(RECOMMENDED)
    rows = []
    for instance in project.instances.order_by("id"):
        words = sorted([len(instance.response_a.split()), len(instance.response_b.split())])
        lengths = dict(
            zip(LENGTH_TAGS, [len(instance.prompt.split()), *words, words[1] - words[0]], strict=True)
        )
        for name in TAG_NAMES:
            value = float(lengths[name]) if name in lengths else float(rng.random())
            rows.append(
                TagValue(
                    instance=instance,
                    tag=name,
                    value=value,
                    extractor=EXTRACTOR,
                    extractor_version=versions[name],
                )
            )
    TagValue.objects.bulk_create(rows, ignore_conflicts=True)
    builder = FeatureBuilder(project_tag_table(project, RECOMMENDED), RECOMMENDED)
    masks = generate_candidates(builder.T, k, rng, RECOMMENDED).masks
    long = np.array([i.metadata.get("length") == "long" for i in project.instances.order_by("id")])
    y = (
        0.6
        + 0.25 * (masks & long).sum(1) / max(long.sum(), 1)
        + 0.03 * masks.mean(1)
        + rng.normal(0, 0.005, k)
    )
    ppm = PPM(kind="quadratic", mode="recommended", random_state=seed)
    ppm.fit(builder.transform(masks), y, feature_names=builder.feature_names)
    return register_ppm(ppm, ppm_name, project=project)


def import_demo(project, n: int, tmp_path, seed: int = 1) -> None:
    """``n`` instances of the demo generator, through the real importer."""
    from annotation.demo.generator import DemoSpec, write_jsonl
    from annotation.importing.writer import import_file

    path = write_jsonl(tmp_path / f"demo-{n}.jsonl", DemoSpec(n=n, seed=seed))
    import_file(project, path)


@pytest.fixture
def routable(project, tmp_path):
    """80 generated instances with tags and a PPM: ready for the curve and for routing."""
    import_demo(project, 80, tmp_path)
    tag_and_fit(project)
    return project
