"""Routing a project reads its rows by project in bounded chunks: the tag table and the routed decisions are
those of the plain per-instance reading (stale tag versions, older tagger records, other projects and older
judge prompt versions all set aside the same way), and route's queries do not grow with the instances."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from routing.binning import LengthEdges, TagTable
from routing.candidates import generate_candidates
from routing.config import RECOMMENDED
from routing.features import FeatureBuilder
from routing.ppm import PPM
from routing.strategies import resolve_budget, route
from routing.textual import LENGTH_TAGS, TAG_NAMES
from routing.uncertainty import uncertainty_table

ANSWERS = (
    {"safety_concern": ["moderate"], "languages": ["English"], "complexity_of_intents": ["complex"]},
    {"expertise_level": ["expert domain knowledge"], "open_endedness": ["high"]},
    {"languages": ["French"], "type_of_in_context_material": ["code"]},
)


def _fill_project(project, n: int, seed: int) -> None:
    """n instances with current and stale tag values, tagger records (some replaced by a later one, one
    not a dict), labels of two judges (one with an older prompt version) and two-order judgments."""
    from annotation.judging.models import LMJudgment, PromptTagRecord
    from annotation.models import Instance, LMLabel
    from routing.app.models import TagValue
    from routing.app.services import EXTRACTOR, tag_versions

    rng = np.random.default_rng(seed)
    versions = tag_versions(RECOMMENDED)
    instances = Instance.objects.bulk_create(
        Instance(
            project=project, external_id=f"{project.name}-{k}", prompt="q", response_a="a", response_b="b"
        )
        for k in range(n)
    )
    tags, records, labels, judgments = [], [], [], []
    for k, inst in enumerate(instances):
        for tag in TAG_NAMES:
            value = float(rng.integers(1, 400)) if tag in LENGTH_TAGS else float(rng.random())
            tags.append(
                TagValue(
                    instance=inst, tag=tag, value=value, extractor=EXTRACTOR, extractor_version=versions[tag]
                )
            )
            tags.append(
                TagValue(instance=inst, tag=tag, value=-1.0, extractor=EXTRACTOR, extractor_version="stale")
            )
        if k % 3:
            records.append(
                PromptTagRecord(instance=inst, model="old", prompt_version="v1", answers=ANSWERS[k % 3])
            )
        if k % 4 == 1:
            latest = ANSWERS[(k + 1) % 3] if k % 8 == 1 else "not a dict"
            records.append(PromptTagRecord(instance=inst, model="new", prompt_version="v1", answers=latest))
        labels.append(LMLabel(instance=inst, judge="judge", prompt_version="v0", preference=1))
        if k % 5:
            labels.append(
                LMLabel(
                    instance=inst,
                    judge="judge",
                    prompt_version="v1",
                    preference=int(rng.choice([-2, -1, 1, 2])),
                )
            )
        labels.append(
            LMLabel(
                instance=inst, judge="second", prompt_version="v1", preference=int(rng.choice([-1, 0, 1]))
            )
        )
        for order in ("AB", "BA"):
            p = float(rng.uniform(0.5, 0.99))
            judgments.append(
                LMJudgment(
                    instance=inst,
                    judge="judge",
                    model="m",
                    prompt_version="v1",
                    order=order,
                    verdict=int(rng.choice([-2, -1, 1, 2])),
                    confidence=p,
                    logprobs={"A": p, "B": 1 - p},
                )
            )
    TagValue.objects.bulk_create(tags)
    for record in records:  # one at a time: created_at and id order the later records last
        record.save()
    LMLabel.objects.bulk_create(labels)
    LMJudgment.objects.bulk_create(judgments)


def _reference_table(project) -> TagTable:
    """The tag table read the plain way: every row of the project into Python, one dict per instance."""
    from annotation.judging.models import PromptTagRecord
    from routing.app.models import TagValue
    from routing.app.services import lm_readings, tag_versions

    versions = tag_versions(RECOMMENDED)
    ids = sorted(project.instances.values_list("id", flat=True))
    current = {
        (iid, tag): value
        for iid, tag, value, version in TagValue.objects.filter(instance__project=project).values_list(
            "instance_id", "tag", "value", "extractor_version"
        )
        if versions[tag] == version
    }
    textual = {tag: np.array([current[(iid, tag)] for iid in ids]) for tag in TAG_NAMES}
    latest = {}
    for record in PromptTagRecord.objects.filter(instance__project=project).order_by("created_at", "id"):
        latest[record.instance_id] = record.answers if isinstance(record.answers, dict) else {}
    answers = [latest.get(iid) for iid in ids]
    table = TagTable.build(ids, textual, answers, edges=LengthEdges.fit(textual), tag_versions=versions)
    return table.with_uncertainty(uncertainty_table(lm_readings(ids), "judge"))


@pytest.fixture
def pools(project, monkeypatch):
    """The project (40 instances) beside another one that must not leak into it; chunks of 7 rows, so
    that chunk edges fall inside an instance's rows."""
    from annotation.models import Project

    monkeypatch.setattr("routing.app.services.STREAM_ROWS", 7)
    monkeypatch.setattr("routing.app.services.DECISION_BATCH", 9)
    _fill_project(project, 40, seed=0)
    other = Project.objects.create(name="other", created_by=project.created_by)
    _fill_project(other, 10, seed=1)
    return project


def _artifact(builder: FeatureBuilder, project, tmp_path):
    from routing.app.services import register_ppm

    rng = np.random.default_rng(0)
    X = builder.transform(generate_candidates(builder.T, 60, rng).masks)
    ppm = PPM("quadratic").fit(X, X @ rng.normal(0, 0.05, X.shape[1]), builder.feature_names)
    return register_ppm(ppm, "streamed", project, out_dir=tmp_path, lm_judge="judge")


@pytest.mark.django_db
def test_streamed_table_and_route_equal_the_plain_reading(pools, tmp_path):
    from routing.app.models import RoutingDecision
    from routing.app.services import project_tag_table, route_project

    reference = _reference_table(pools)
    table = project_tag_table(pools, RECOMMENDED, lm_judge="judge")
    assert table.instance_ids == reference.instance_ids
    np.testing.assert_array_equal(table.matrix(True), reference.matrix(True))
    assert table.descriptive[:, :].any() and table.uncertainty is not None
    assert table.uncertainty.judges == reference.uncertainty.judges == ("judge", "second")
    assert table.uncertainty.margin_edges == reference.uncertainty.margin_edges
    for tag in TAG_NAMES:
        np.testing.assert_array_equal(table.textual[tag], reference.textual[tag])

    expected_builder = FeatureBuilder(reference)
    artifact = _artifact(expected_builder, pools, tmp_path)
    ppm = artifact.load()
    expected = route("simulated", ppm, expected_builder, resolve_budget(0.25, 40), np.random.default_rng(3))
    run = route_project(pools, artifact, 0.25, "simulated", seed=3)
    decisions = list(run.decisions.order_by("instance_id").values_list("instance_id", "route", "gain"))
    assert [d[0] for d in decisions] == reference.instance_ids
    routed = np.array([d[1] == RoutingDecision.Route.HUMAN for d in decisions])
    np.testing.assert_array_equal(routed, expected.mask)
    np.testing.assert_allclose([d[2] for d in decisions], expected.gains, rtol=0, atol=1e-12)
    assert run.predicted_performance == pytest.approx(expected.predicted, abs=1e-12)


@pytest.mark.django_db
def test_route_queries_do_not_grow_with_instances(project, monkeypatch, tmp_path):
    from annotation.models import Project
    from routing.app.services import project_tag_table, route_project

    monkeypatch.setattr("routing.app.services.DECISION_BATCH", 1000)
    counts = []
    for n in (10, 60):
        pool = Project.objects.create(name=f"pool-{n}", created_by=project.created_by)
        _fill_project(pool, n, seed=n)
        artifact = _artifact(
            FeatureBuilder(project_tag_table(pool, RECOMMENDED, lm_judge="judge")), pool, tmp_path
        )
        with CaptureQueriesContext(connection) as queries:
            route_project(pool, artifact, 0.5, "top_k")
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


@pytest.mark.django_db
def test_an_instance_without_a_current_tag_is_named(pools):
    from routing.app.models import TagValue
    from routing.app.services import RoutingError, project_tag_table

    first = min(pools.instances.values_list("id", flat=True))
    TagValue.objects.filter(instance_id=first, tag="rouge").exclude(extractor_version="stale").delete()
    with pytest.raises(RoutingError, match=rf"1 instances lack textual tags \(first ids \[{first}\]\)"):
        project_tag_table(pools, RECOMMENDED)
