"""RewardBench-style scoring, held-out scoring and data loading."""

import json

import numpy as np
import pytest

from models.aggregation import LabelInput
from models.reward.data import as_text, human_aggregate, load_instances, load_triples
from models.reward.evaluation import (
    BenchLayout,
    bench_scores,
    correct_flags,
    heldout_accuracy,
    random_splits,
    scores_row,
)


def test_strict_greater_and_category_weighting():
    subsets = ["s1", "s1", "s2", "s2", "s2", "s2", "s3"]
    cats = ["c1", "c1", "c1", "c1", "c1", "c1", "c2"]
    layout = BenchLayout.from_triples(subsets, cats)
    chosen = np.array([[1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0]])
    rejected = np.array([[0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 4.0]])  # ties count as wrong
    scores = scores_row(bench_scores(correct_flags(chosen, rejected), layout))
    assert scores["subsets"] == {"s1": 0.5, "s2": 0.25, "s3": 1.0}
    # c1 = (0.5 * 2 + 0.25 * 4) / 6 = 1/3 ; overall = mean(1/3, 1)
    assert scores["categories"]["c1"] == pytest.approx(1 / 3)
    assert scores["overall"] == pytest.approx((1 / 3 + 1.0) / 2)


def test_custom_subset_weight_upweights():
    layout = BenchLayout.from_triples(["m", "c"], ["r", "r"], weights={"m": 3.0})
    scores = scores_row(bench_scores(np.array([[True, False]]), layout))
    assert scores["categories"]["r"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unknown subset"):
        BenchLayout.from_triples(["m"], ["r"], weights={"x": 1.0})


def test_many_models_at_once():
    layout = BenchLayout.from_triples(["a", "a", "b"], ["x", "x", "y"])
    out = bench_scores(np.array([[1, 1, 0], [0, 1, 1]]), layout)
    assert out["overall"].tolist() == pytest.approx([0.5, 0.75])


def test_splits_are_fixed_by_seed_and_disjoint():
    a, b = random_splits(10, 3, 4, seed=1), random_splits(10, 3, 4, seed=1)
    for (tr, te), (tr2, te2) in zip(a, b, strict=True):
        assert tr.tolist() == tr2.tolist() and te.tolist() == te2.tolist()
        assert len(te) == 3 and not set(tr) & set(te) and len(tr) + len(te) == 10


def test_heldout_accuracy_ignores_ties_and_train_pairs():
    gap = np.array([[1.0, -1.0, 1.0, 0.0]])
    gold = np.array([1, 1, 0, -1])
    mask = np.array([[True, True, True, False]])
    assert heldout_accuracy(gap, gold, mask).tolist() == [0.5]


def test_human_label_is_the_projects_aggregation_rule_and_as_text():
    """One rule everywhere (models.aggregation, what the export uses): a plurality of A / B / tie, a tie in
    the vote is a tie. Four annotators [A, A, B, tie] give A (a strict majority dropped it)."""

    def votes(*prefs):
        return [LabelInput(f"a{k}", p) for k, p in enumerate(prefs)]

    assert human_aggregate(votes(-1, -1, 1, 0)) == -1
    assert human_aggregate(votes(-1, -1, 1)) == -1
    assert human_aggregate(votes(-1, 0, 1)) == 0
    assert human_aggregate(votes(0, 0, 1)) == 0
    assert human_aggregate([]) is None
    assert human_aggregate(votes(-3, -1, 2, 3), method="helpsteer2") is None  # spread 4 > 2: dropped
    assert as_text(True) == "True" and as_text(None) == ""


def test_loaders_and_errors(tmp_path):
    f = tmp_path / "i.jsonl"
    f.write_text(
        json.dumps(
            {
                "id": "x",
                "prompt": "p",
                "response_a": True,
                "response_b": "",
                "human_labels": [{"annotator": "a", "label": "B"}, {"annotator": "b", "label": "B"}],
                "lm_labels": {"j": None},
            }
        )
        + "\n"
    )
    (inst,) = load_instances(f)
    assert inst.response_a == "True" and inst.human == 1 and inst.lm == {"j": None}
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\n')
    with pytest.raises(ValueError, match=r"b.jsonl:1: missing field 'subset'"):
        load_triples(bad)
    bad.write_text("{nope\n")
    with pytest.raises(ValueError, match="b.jsonl:1: not valid JSON"):
        load_triples(bad)


def test_real_files_shape(shared_data):
    inst = load_instances(shared_data / "pandalm" / "pandalm.jsonl")
    assert len(inst) == 999
    assert sum(i.human == 0 for i in inst) == 105
    triples = load_triples(shared_data / "rm-eval" / "rm-eval.jsonl")
    assert len(triples) == 3232
