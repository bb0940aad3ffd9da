"""The hybrid dataset on PandaLM: assembly, immutability, aggregates kept current, export round trip."""

from __future__ import annotations

import json
from io import StringIO

import pandas as pd
import pytest
from django.core.management import call_command

from annotation.datasets.exporting import PROVENANCE_COLUMNS, export_version

pytestmark = pytest.mark.django_db
JUDGE = "gpt-3.5-turbo"


@pytest.fixture
def pandalm(db, pandalm_path):
    from annotation.models import Project

    call_command("import_instances", "pandalm", str(pandalm_path), stdout=StringIO())
    return Project.objects.get(name="pandalm")


@pytest.fixture
def hybrid(pandalm):
    """Even instance numbers routed to people, the rest to GPT-3.5."""
    from annotation.datasets.services import build_dataset_version

    human = [
        pk
        for pk, ext in pandalm.instances.values_list("pk", "external_id")
        if int(ext.split("-")[1]) % 2 == 0
    ]
    return build_dataset_version(pandalm, "hybrid-v1", human_instance_ids=human, judge=JUDGE)


def _majority_and_lm(project):
    from annotation.core.aggregation import LabelInput, majority
    from annotation.models import HumanLabel, LMLabel

    votes: dict[str, list] = {}
    for ext, ref, pref in HumanLabel.objects.filter(instance__project=project).values_list(
        "instance__external_id", "annotator_ref", "preference"
    ):
        votes.setdefault(ext, []).append(LabelInput(ref, pref))
    lm = dict(
        LMLabel.objects.filter(instance__project=project, judge=JUDGE).values_list(
            "instance__external_id", "preference"
        )
    )
    return {ext: majority(v).result for ext, v in votes.items()}, lm


def test_hybrid_rows_take_human_where_routed_else_lm(pandalm, hybrid):
    from annotation.datasets.models import DatasetRow

    counts = hybrid.counts
    assert counts["instances"] == 999
    assert counts["human_routed"] == 500
    assert counts["human"] == 500  # majority never drops an instance with votes
    maj, lm = _majority_and_lm(pandalm)
    lm_routed = [f"pandalm-{i}" for i in range(1, 999, 2)]
    assert counts["lm"] == sum(ext in lm for ext in lm_routed)
    assert counts["unlabelled"] == 499 - counts["lm"]  # GPT-3.5's null verdicts on LM-routed items
    assert counts["rows"] == counts["human"] + counts["lm"]
    assert counts["human_share"] == pytest.approx(500 / counts["rows"])
    for row in DatasetRow.objects.filter(version=hybrid).select_related("instance"):
        ext = row.instance.external_id
        if int(ext.split("-")[1]) % 2 == 0:
            assert row.source == "human" and row.preference == maj[ext]
            assert row.provenance["n_annotators"] == 3
            assert row.provenance["display_orders"] == ["AB"] * 3
        else:
            assert row.source == "lm" and row.preference == lm[ext]
            assert row.provenance["lm_model"] == JUDGE


def test_version_and_rows_are_immutable(hybrid):
    from annotation.datasets.models import DatasetRow, ImmutableError

    with pytest.raises(ImmutableError):
        hybrid.save()
    row = DatasetRow.objects.filter(version=hybrid).first()
    row.preference = -row.preference
    with pytest.raises(ImmutableError):
        row.save()


def test_version_name_unique_and_bad_params(pandalm, hybrid):
    from annotation.datasets.services import DatasetBuildError, build_dataset_version

    with pytest.raises(DatasetBuildError, match="already has a dataset version"):
        build_dataset_version(pandalm, "hybrid-v1", human_instance_ids=[], judge=JUDGE)
    with pytest.raises(DatasetBuildError, match="judge: name the LM judge"):
        build_dataset_version(pandalm, "x", mode="all_lm")
    with pytest.raises(DatasetBuildError, match="routing_run: (the routing app|no routing run with id)"):
        build_dataset_version(pandalm, "y", routing_run=10**9, judge=JUDGE)
    with pytest.raises(DatasetBuildError, match="human_instance_ids"):
        build_dataset_version(pandalm, "z", human_instance_ids=[10**9], judge=JUDGE)


def test_all_lm_and_all_human_modes(pandalm):
    from annotation.datasets.services import build_dataset_version

    lm = build_dataset_version(pandalm, "lm", mode="all_lm", judge=JUDGE)
    assert lm.counts["human"] == 0 and lm.counts["lm"] == 999 - 25
    human = build_dataset_version(pandalm, "people", mode="all_human")
    assert human.counts["human"] == 999 and human.counts["ties"] == 105
    assert human.counts["pairwise_rows"] == 894


def test_refresh_aggregates_recomputes_only_changed_inputs(pandalm):
    from django.contrib.auth.models import User

    from annotation.datasets.models import Aggregate
    from annotation.datasets.services import refresh_aggregates
    from annotation.models import HumanLabel, UserProfile

    first = refresh_aggregates(pandalm)
    assert first.created == 999 and first.updated == 0
    again = refresh_aggregates(pandalm)
    assert again.unchanged == 999 and again.created == again.updated == 0
    # Link annotator1's votes to a user and exclude that user: every aggregate's inputs change.
    user = User.objects.create_user("annotator1-user")
    HumanLabel.objects.filter(instance__project=pandalm, annotator_ref="annotator1").update(annotator=user)
    UserProfile.objects.filter(user=user).update(excluded=True)
    after = refresh_aggregates(pandalm)
    assert after.updated == 999
    agg = Aggregate.objects.filter(instance__project=pandalm, method="majority").first()
    assert {i["annotator"] for i in agg.inputs} == {"annotator2", "annotator3"}


def test_export_round_trip_pandas_and_datasets(hybrid, tmp_path):
    from datasets import load_from_disk

    result = export_version(hybrid, tmp_path / "out")
    out = tmp_path / "out"
    expected_pairs = hybrid.counts["rows"] - hybrid.counts["ties"]
    assert result["rows"]["pairwise"] == expected_pairs
    jsonl = pd.read_json(out / "pairwise.jsonl", lines=True, dtype={"id": str})
    parquet = pd.read_parquet(out / "pairwise.parquet")
    csv = pd.read_csv(out / "pairwise.csv", dtype={"id": str}, keep_default_na=False)
    hf = load_from_disk(str(out / "hf_pairwise")).to_pandas()
    # The CSV escapes cells a spreadsheet would run as formulas with a leading apostrophe (issue 10, item 8).
    formula = csv["chosen"].str.match(r"'[=+\-@\t\r]")
    assert formula.any()
    csv.loc[formula, "chosen"] = csv.loc[formula, "chosen"].str[1:]
    for frame in (jsonl, parquet, csv, hf):
        assert len(frame) == expected_pairs
        assert set(PROVENANCE_COLUMNS) <= set(frame.columns)
        assert list(frame["id"]) == list(parquet["id"])
        assert list(frame["chosen"].fillna("")) == list(parquet["chosen"].fillna(""))
        assert list(frame["source"]) == list(parquet["source"])
    assert set(parquet["source"]) == {"human", "lm"}
    assert (parquet["preference"] != 0).all()
    human = parquet[parquet["source"] == "human"].iloc[0]
    assert list(human["annotators"]) == ["annotator1", "annotator2", "annotator3"]
    assert human["n_annotators"] == 3 and human["aggregation_method"] == "majority"
    assert json.loads(csv.loc[csv["source"] == "lm", "annotators"].iloc[0]) == [JUDGE]
    # the full per-annotation form: 3 human votes per instance plus the LM label where there is one
    full = pd.read_parquet(out / "full.parquet")
    hf_full = load_from_disk(str(out / "hf_full"))
    assert len(hf_full) == len(full) == result["rows"]["full"]
    assert (full["rater_type"] == "human").sum() == 3 * hybrid.counts["rows"]
    assert set(PROVENANCE_COLUMNS) <= set(full.columns)
    card = json.loads((out / "dataset_card.json").read_text())
    assert card["counts"]["rows"] == hybrid.counts["rows"]
    assert card["lm"]["model"] == JUDGE and card["human_share"] == pytest.approx(hybrid.counts["human_share"])
    assert "# Dataset card: pandalm / hybrid-v1" in (out / "dataset_card.md").read_text()
    assert result["archive"].endswith(".zip")


def test_export_dataset_command(pandalm, tmp_path):
    out = StringIO()
    ids = tmp_path / "human.txt"
    ids.write_text("\n".join(f"pandalm-{i}" for i in range(100)))
    call_command(
        "export_dataset",
        "pandalm",
        "cmd-v1",
        "--create",
        "--human-ids",
        str(ids),
        "--judge",
        JUDGE,
        "--format",
        "jsonl",
        "--format",
        "parquet",
        "--form",
        "pairwise",
        "--out",
        str(tmp_path / "exp"),
        stdout=out,
    )
    assert "Exported pandalm/cmd-v1" in out.getvalue()
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == [
        "dataset_card.json",
        "dataset_card.md",
        "pairwise.jsonl",
        "pairwise.parquet",
    ]
    frame = pd.read_parquet(tmp_path / "exp" / "pairwise.parquet")
    assert (frame["source"] == "human").sum() == (frame["id"].str.split("-").str[1].astype(int) < 100).sum()


def test_routing_run_decisions_pick_the_human_set(pandalm):
    from annotation.datasets.services import build_dataset_version
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun

    ppm = PPMArtifact.objects.create(name="ppm-test", kind="linear", path="/nonexistent")
    run = RoutingRun.objects.create(
        project=pandalm, budget=100, strategy="top-k-gain", ppm=ppm, predicted_performance=0.7
    )
    instances = list(pandalm.instances.order_by("pk"))
    RoutingDecision.objects.bulk_create(
        RoutingDecision(run=run, instance=inst, route="human" if i < 100 else "lm", gain=0.0)
        for i, inst in enumerate(instances)
    )
    version = build_dataset_version(pandalm, "routed", routing_run=run.pk, judge=JUDGE)
    assert version.counts["human_routed"] == 100 and version.counts["human"] == 100
    assert version.params["routing_strategy"] == "top-k-gain"
    assert version.params["budget"] == 100 and version.params["ppm_version"] == "ppm-test"
    row = version.rows.filter(source="human").first()
    assert row.provenance["routing_run"] == run.pk and row.provenance["ppm_version"] == "ppm-test"
