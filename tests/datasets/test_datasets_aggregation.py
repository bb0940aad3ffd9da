"""Aggregation rules (docs/METHOD.md, Aggregation) on the papers' examples."""

from __future__ import annotations

import pytest

from annotation.core.aggregation import (
    HELPSTEER2,
    MAJORITY,
    LabelInput,
    aggregate,
    aggregate_aspects,
    closest_three,
    helpsteer2,
    majority,
)
from annotation.core.labels import unswap


def labels(*prefs, neither=()):
    out = [LabelInput(annotator=f"a{i}", preference=p) for i, p in enumerate(prefs)]
    out += [LabelInput(annotator=f"n{i}", preference=None, neither_valid=True) for i in range(len(neither))]
    return out


def test_helpsteer2_paper_example_dropped():
    result = helpsteer2(labels(-3, -1, 2, 3))
    assert result.dropped and result.result is None
    assert result.details["closest"] == [-1, 2, 3]
    assert result.details["spread"] == 4
    assert result.method == HELPSTEER2


def test_helpsteer2_zero_mean_dropped():
    result = helpsteer2(labels(-1, -1, 1))
    assert result.dropped and "rounds to 0" in result.reason


def test_helpsteer2_mean_rounded_and_outlier_ignored():
    result = helpsteer2(labels(2, 3, 3, -3))
    assert not result.dropped
    assert result.details["closest"] == [2, 3, 3]
    assert result.result == 3  # 8/3 = 2.67 -> 3
    assert result.strength == 3.0
    assert result.agreement == 1.0
    assert helpsteer2(labels(1, 2, 1)).result == 1  # 4/3 -> 1


def test_helpsteer2_spread_limit_is_inclusive():
    assert helpsteer2(labels(1, 2, -1)).dropped  # spread 3
    ok = helpsteer2(labels(1, 3, 2))
    assert ok.result == 2 and ok.details["spread"] == 2


def test_helpsteer2_neither_valid_kept_aside():
    result = helpsteer2(labels(-2, -2, -1, neither=[True, True]))
    assert result.result == -2  # -5/3 = -1.67 -> -2
    assert result.details["neither_valid"] == ["n0", "n1"]
    assert all(not i["neither_valid"] for i in result.inputs)


def test_helpsteer2_only_neither_valid_dropped():
    assert helpsteer2(labels(neither=[True, True, True])).dropped


def test_helpsteer2_fewer_than_three_uses_all_and_rounds_half_away():
    assert helpsteer2(labels(1, 2)).result == 2  # 1.5 -> 2
    assert helpsteer2(labels(-1, -2)).result == -2
    assert helpsteer2(labels(1, 2), min_annotations=3).dropped


def test_helpsteer2_rejects_out_of_scale():
    with pytest.raises(ValueError, match="not in -3..\\+3"):
        helpsteer2(labels(4, 1, 1))


def test_closest_three_tie_break_is_deterministic():
    window, ambiguous = closest_three([1, 2, 3, 4])
    assert window == [1, 2, 3] and ambiguous  # equal spread/variance: nearer zero (the weaker preference)
    assert closest_three([4, 3, 2, 1]) == (window, True)


def test_majority_tie_in_vote_is_tie_whatever_the_order():
    for prefs in [(-1, 1), (1, -1), (-2, 2, 0), (0, 2, -1), (1, -1, 2, -2)]:
        result = majority(labels(*prefs))
        assert result.result == 0, prefs
        assert result.is_tie and not result.dropped
        assert result.strength == 0.0


def test_majority_counts_and_strength():
    result = majority(labels(-2, -1, 1))
    assert result.result == -1 and result.choice == "A"
    assert result.strength == 1.5
    assert result.agreement == pytest.approx(2 / 3)
    assert result.details["votes"] == {"A": 2, "B": 1, "tie": 0}
    assert not result.details["unanimous"]
    assert majority(labels(0, 0, 2)).result == 0  # a tie majority
    assert majority(labels(1, 1, 1)).details["unanimous"]


def test_excluded_annotators_left_out():
    data = labels(-1, 1, 1)
    assert majority(data).result == 1
    assert majority(data, excluded={"a1"}).result == 0
    assert majority(data, excluded={"a1", "a2"}).result == -1
    assert all(i["annotator"] != "a1" for i in majority(data, excluded={"a1"}).inputs)


def test_duplicate_annotator_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        majority([LabelInput("x", 1), LabelInput("x", -1)])


def test_no_votes_dropped():
    result = majority([LabelInput("x", None)])
    assert result.dropped and result.result is None


def test_canonical_values_after_unswap():
    # Annotator saw B first and chose the left one (B): shown value -1, canonical +1.
    stored = [LabelInput("a", unswap(-1, True), shown_swapped=True), LabelInput("b", 1)]
    assert majority(stored).result == 1
    assert majority(stored).inputs[0]["shown_swapped"] is True


def test_aspects_majority_per_aspect():
    data = [
        LabelInput("a", -1, aspects={"helpfulness": -2, "truthfulness": 0, "harmlessness": 1}),
        LabelInput("b", -1, aspects={"helpfulness": -1, "truthfulness": 1, "harmlessness": None}),
        LabelInput("c", 1, aspects={"helpfulness": 1, "truthfulness": 1}),
    ]
    out = aggregate_aspects(data)
    assert set(out) == {"harmlessness", "helpfulness", "truthfulness"}
    assert out["helpfulness"].result == -1 and out["helpfulness"].strength == 1.5
    assert out["truthfulness"].result == 1
    assert out["harmlessness"].result == 1 and len(out["harmlessness"].inputs) == 1
    assert out["helpfulness"].method == "majority:helpfulness"
    assert aggregate_aspects(data, excluded={"a"})["helpfulness"].result == 0


def test_dispatch():
    assert aggregate(MAJORITY, labels(1, 1)).result == 1
    assert aggregate(HELPSTEER2, labels(1, 1, 3), max_spread=1).dropped
    with pytest.raises(ValueError, match="unknown aggregation method"):
        aggregate("mean", labels(1))
