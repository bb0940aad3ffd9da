"""LM-uncertainty tags: the columns, their place in the features (off in paper mode), the database path from
stored judgments, and that no uncertainty feature reads a human label (shuffling them changes nothing)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from routing.config import PAPER, RECOMMENDED
from routing.features import FeatureBuilder
from routing.uncertainty import UNCERTAINTY_FEATURES, JudgeReading, MarginEdges, margin_of, uncertainty_table
from tests.routing.conftest import synthetic_table
from tests.routing.test_routing_app import FakeTags


def column(table, name: str) -> list[bool]:
    return table.matrix[:, UNCERTAINTY_FEATURES.index(name)].tolist()


def test_columns_from_orders_judges_strength_and_margin():
    readings = [
        {"j": JudgeReading("j", -2, (-2, -1), 3.0), "k": JudgeReading("k", -1)},  # all agree, clear
        {"j": JudgeReading("j", 1, (1, -1), 0.1), "k": JudgeReading("k", 0)},  # orders differ, other says tie
        {"j": JudgeReading("j", 1, None, 1.0), "k": JudgeReading("k", -1)},  # other judge opposes
        {"j": JudgeReading("j", None)},  # no label: nothing fires
        {"k": JudgeReading("k", 1)},  # primary never asked
    ]
    t = uncertainty_table(readings, "j")
    assert t.matrix.shape == (5, len(UNCERTAINTY_FEATURES)) and t.judges == ("j", "k")
    assert column(t, "lm-order:agree") == [True, False, False, False, False]
    assert column(t, "lm-order:disagree") == [False, True, False, False, False]
    assert column(t, "lm-judges:agree") == [True, False, False, False, False]
    assert column(t, "lm-judges:split") == [False, True, False, False, False]
    assert column(t, "lm-judges:oppose") == [False, False, True, False, False]
    assert column(t, "lm-strength:clear") == [True, False, False, False, False]
    assert column(t, "lm-strength:slight") == [False, True, True, False, False]
    assert column(t, "lm-margin:low") == [False, True, False, False, False]
    assert column(t, "lm-margin:high") == [True, False, False, False, False]
    assert not t.matrix[3:].any()
    with pytest.raises(ValueError, match="primary LM judge"):
        uncertainty_table(readings, "")


def test_margin_from_probabilities_or_confidence():
    assert margin_of({"A": 0.5, "B": 0.25}) == pytest.approx(np.log(2))
    assert margin_of(None, 0.75) == pytest.approx(np.log(3))
    assert margin_of(None, None) is None
    edges = MarginEdges.fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert edges.columns(0.05) == [True, False, False] and edges.columns(None) == [False, False, False]
    assert MarginEdges.fit([0.1, None]) is None


def test_features_carry_uncertainty_beside_the_paper_tags_but_not_in_paper_mode():
    base = synthetic_table(n=40)
    readings = [{"j": JudgeReading("j", 1 if k % 3 else -1), "k": JudgeReading("k", 1)} for k in range(40)]
    table = base.with_uncertainty(uncertainty_table(readings, "j"))
    rec, paper = FeatureBuilder(table, RECOMMENDED), FeatureBuilder(table, PAPER)
    assert rec.tag_names == base.feature_names + list(UNCERTAINTY_FEATURES)
    assert paper.tag_names == base.feature_names  # paper mode stays the paper's
    assert rec.feature_names[-1] == "human_share"
    sub = table.subset(np.arange(10))
    np.testing.assert_array_equal(sub.uncertainty.matrix, table.uncertainty.matrix[:10])


@pytest.fixture
def judged_project(project, monkeypatch):
    """12 instances with three human votes each, two judges (one asked in both orders with probabilities),
    textual tags stored (deterministic stand-in extractor)."""
    from annotation.judging.models import LMJudgment
    from annotation.models import HumanLabel, Instance, LMLabel

    monkeypatch.setattr("routing.app.services.compute_textual_tags", FakeTags())
    rng = np.random.default_rng(3)
    for k in range(12):
        inst = Instance.objects.create(
            project=project,
            external_id=f"i{k}",
            prompt=f"question {k} " * (k + 1),
            response_a=f"answer {k} " * (k + 2),
            response_b=f"reply {k} " * (2 * k + 1),
        )
        for a in range(3):
            HumanLabel.objects.create(
                instance=inst, annotator_ref=f"h{a}", preference=int(rng.choice([-1, 1]))
            )
        ab, ba = int(rng.choice([-2, -1, 1, 2])), int(rng.choice([-2, -1, 1, 2]))
        label = ab if np.sign(ab) == np.sign(ba) else 0
        LMLabel.objects.create(instance=inst, judge="judge", prompt_version="v1", preference=label or 1)
        LMLabel.objects.create(
            instance=inst, judge="second", prompt_version="v1", preference=int(rng.choice([-1, 1]))
        )
        for order, verdict in (("AB", ab), ("BA", ba)):
            p = float(rng.uniform(0.5, 0.99))
            LMJudgment.objects.create(
                instance=inst,
                judge="judge",
                model="m",
                prompt_version="v1",
                order=order,
                verdict=verdict,
                confidence=p,
                logprobs={"A": p, "B": 1 - p},
            )
    call_command("compute_tags", project.name)
    return project


def shuffle_human_labels(project, seed: int) -> None:
    from annotation.models import HumanLabel

    rows = list(HumanLabel.objects.filter(instance__project=project))
    prefs = np.random.default_rng(seed).permutation([r.preference for r in rows])
    for row, pref in zip(rows, prefs, strict=True):
        row.preference = -int(pref)  # permuted and flipped: certainly different labels
    HumanLabel.objects.bulk_update(rows, ["preference"])


@pytest.mark.django_db
def test_no_uncertainty_feature_reads_a_human_label(judged_project, tmp_path):
    """The tag table (uncertainty columns included) and a routing with a fixed PPM are identical after the
    human labels are shuffled and flipped."""
    from routing.app.models import RoutingRun
    from routing.app.services import project_tag_table, register_ppm, route_project
    from routing.candidates import generate_candidates
    from routing.ppm import PPM

    table = project_tag_table(judged_project, RECOMMENDED, lm_judge="judge")
    assert table.uncertainty is not None and table.uncertainty.matrix.any()
    assert table.uncertainty.matrix[:, UNCERTAINTY_FEATURES.index("lm-order:disagree")].any()
    assert table.uncertainty.matrix[:, UNCERTAINTY_FEATURES.index("lm-margin:high")].any()
    builder = FeatureBuilder(table)
    rng = np.random.default_rng(0)
    X = builder.transform(generate_candidates(builder.T, 40, rng).masks)
    ppm = PPM("linear").fit(X, X @ rng.normal(size=X.shape[1]), builder.feature_names)
    artifact = register_ppm(ppm, "uncertain", judged_project, out_dir=tmp_path, lm_judge="judge")
    before = route_project(judged_project, artifact, 0.25, "top_k")
    shuffle_human_labels(judged_project, seed=1)
    again = project_tag_table(judged_project, RECOMMENDED, lm_judge="judge")
    np.testing.assert_array_equal(again.matrix(True), table.matrix(True))
    after = route_project(judged_project, artifact, 0.25, "top_k")
    humans = [
        sorted(r.decisions.filter(route="human").values_list("instance_id", flat=True))
        for r in (before, after)
    ]
    assert humans[0] == humans[1] and len(humans[0]) == 3 and RoutingRun.objects.count() == 2
    assert before.predicted_performance == after.predicted_performance


@pytest.mark.django_db
def test_ppm_without_uncertainty_columns_still_routes(judged_project, tmp_path):
    """A PPM fitted on the paper's tags only is served the paper's tags, whatever judges the project has."""
    from routing.app.services import gain_report, project_tag_table, register_ppm, route_project
    from routing.config import replace
    from routing.ppm import PPM

    mode = replace(RECOMMENDED, uncertainty_tags=False)
    builder = FeatureBuilder(project_tag_table(judged_project, mode), mode)
    rng = np.random.default_rng(0)
    X = builder.transform(rng.random((30, builder.n)) < 0.5)
    ppm = PPM("linear").fit(X, X[:, -1], builder.feature_names)
    artifact = register_ppm(ppm, "paper-tags", judged_project, out_dir=tmp_path)
    run = route_project(judged_project, artifact, 0.5, "simulated")
    assert run.decisions.filter(route="human").count() == 6 and run.params["info"]["sampler"] == "fill+masks"
    full = FeatureBuilder(project_tag_table(judged_project, RECOMMENDED, lm_judge="judge"))
    X = full.transform(rng.random((30, full.n)) < 0.5)
    artifact = register_ppm(
        PPM("linear").fit(X, X[:, -2], full.feature_names),
        "with-u",
        judged_project,
        tmp_path,
        lm_judge="judge",
    )
    groups = {row["tag"]: row["group"] for row in gain_report(judged_project, artifact, n=3, trials=2)}
    assert groups["lm-judges:agree"] == "uncertainty" and groups["bertscore:[0.00,0.33)"] == "paper"
