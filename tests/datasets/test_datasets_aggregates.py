"""Stored aggregates for both schemes: HelpSteer2 rule with "neither valid", MultiPref per-aspect majorities."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _instance(project, ext):
    from annotation.models import Instance

    return Instance.objects.create(
        project=project, external_id=ext, prompt="p", response_a="a", response_b="b"
    )


def test_helpsteer2_project_aggregates(researcher):
    from annotation.core.schemes import default_scheme_config
    from annotation.datasets.models import Aggregate
    from annotation.datasets.services import build_dataset_version, refresh_aggregates
    from annotation.models import HumanLabel, Project

    project = Project.objects.create(
        name="hs2", scheme=default_scheme_config("helpsteer2"), created_by=researcher
    )
    cases = {"drop-spread": [-3, -1, 2, 3], "drop-zero": [-1, -1, 1], "keep": [2, 3, 3, None]}
    for ext, prefs in cases.items():
        instance = _instance(project, ext)
        for j, pref in enumerate(prefs):
            HumanLabel.objects.create(
                instance=instance, annotator_ref=f"h{j}", preference=pref, neither_valid=pref is None
            )
    report = refresh_aggregates(project)
    assert report.created == 3
    by_ext = {
        a.instance.external_id: a
        for a in Aggregate.objects.filter(method="helpsteer2").select_related("instance")
    }
    assert by_ext["drop-spread"].dropped and by_ext["drop-spread"].details["closest"] == [-1, 2, 3]
    assert by_ext["drop-zero"].dropped and by_ext["drop-zero"].result is None
    assert by_ext["keep"].result == 3 and by_ext["keep"].details["neither_valid"] == ["h3"]
    version = build_dataset_version(project, "people", mode="all_human")
    assert version.counts["rows"] == 1 and version.counts["human_dropped"] == 2
    assert version.params["aggregation_method"] == "helpsteer2"


def test_multipref_aspects_stored(project):
    from annotation.datasets.models import Aggregate
    from annotation.datasets.services import refresh_aggregates
    from annotation.models import HumanLabel

    instance = _instance(project, "x")
    aspects = [
        {"helpfulness": -2, "truthfulness": 0, "harmlessness": 0},
        {"helpfulness": -1, "truthfulness": 1, "harmlessness": 0},
        {"helpfulness": 1, "truthfulness": 1, "harmlessness": 0},
    ]
    for j, a in enumerate(aspects):
        HumanLabel.objects.create(instance=instance, annotator_ref=f"h{j}", preference=-1, aspects=a)
    refresh_aggregates(project)
    stored = dict(Aggregate.objects.filter(instance=instance).values_list("method", "result"))
    assert stored == {
        "majority": -1,
        "majority:helpfulness": -1,
        "majority:truthfulness": 1,
        "majority:harmlessness": 0,
    }
    # a new label changes the inputs: the aggregates are recomputed, the others left alone
    HumanLabel.objects.create(instance=instance, annotator_ref="h3", preference=1, aspects={"helpfulness": 2})
    HumanLabel.objects.create(instance=instance, annotator_ref="h4", preference=1, aspects={"helpfulness": 2})
    report = refresh_aggregates(project)
    assert report.updated == 4 and report.created == 0
    assert Aggregate.objects.get(instance=instance, method="majority").result == -1  # 3 A vs 2 B
    assert Aggregate.objects.get(instance=instance, method="majority:helpfulness").result == 1  # 2 A vs 3 B


@pytest.mark.django_db
def test_gold_accuracy_is_scored_against_the_workflow_gold_answer():
    from annotation.datasets.report import agreement_report
    from annotation.models import HumanLabel, Instance, Project
    from annotation.workflow.models import GoldAnswer

    project = Project.objects.create(name="gold")
    gold_item = Instance.objects.create(
        project=project, external_id="g", prompt="p", response_a="a", response_b="b"
    )
    GoldAnswer.objects.create(instance=gold_item, preference=-2)
    for ref, preference in (("right", -1), ("wrong", 1)):
        HumanLabel.objects.create(instance=gold_item, annotator_ref=ref, preference=preference, is_gold=True)
    stats = agreement_report(project)["per_annotator"]
    assert stats["right"]["gold_accuracy"] == 1.0 and stats["right"]["gold_items"] == 1
    assert stats["wrong"]["gold_accuracy"] == 0.0
