"""Agreement statistics against scikit-learn, Krippendorff's worked example and the krippendorff package."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from annotation.core.agreement import (
    AnnotatorRecord,
    agreement_by_group,
    annotator_stats,
    krippendorff_alpha,
    pairwise_kappa,
    percent_agreement,
    rater_vs_reference,
    reliability_matrix,
    unanimous_share,
    weighted_kappa,
)

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
# missing values. Published results: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797.
KRIPPENDORFF_EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


@pytest.mark.parametrize("weights", ["quadratic", "linear", None])
def test_weighted_kappa_equals_sklearn_on_random_data(weights):
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(5, 300))
        k = int(rng.integers(2, 8))
        a = rng.integers(-3, -3 + k, n)
        # correlated second rater, sometimes on a shifted scale
        b = np.clip(a + rng.integers(-2, 3, n) * (rng.random(n) < 0.5), -3, 3)
        expected = cohen_kappa_score(a, b, weights=weights)
        assert weighted_kappa(a, b, weights=weights) == pytest.approx(expected, abs=1e-12), trial


def test_weighted_kappa_with_labels_equals_sklearn():
    rng = np.random.default_rng(1)
    scale = [-3, -2, -1, 1, 2, 3]
    a = rng.choice([-1, 1, 2], 50)
    b = rng.choice([-2, -1, 1, 2], 50)
    assert weighted_kappa(a, b, labels=scale) == pytest.approx(
        cohen_kappa_score(a, b, weights="quadratic", labels=scale)
    )
    with pytest.raises(ValueError, match="outside the given label list"):
        weighted_kappa([0, 1], [1, 1], labels=scale)


def test_weighted_kappa_edge_cases():
    assert weighted_kappa([1, 2, 3], [1, 2, 3]) == 1.0
    assert math.isnan(weighted_kappa([1, 1], [1, 1]))
    with pytest.raises(ValueError, match="equal length"):
        weighted_kappa([1], [1, 2])
    with pytest.raises(ValueError, match="missing"):
        weighted_kappa([1, NAN], [1, 2])


@pytest.mark.parametrize("level", list(PUBLISHED))
def test_krippendorff_alpha_published_example(level):
    assert round(krippendorff_alpha(KRIPPENDORFF_EXAMPLE, level=level), 3) == PUBLISHED[level]
    # transposing units/raters order must not matter
    assert krippendorff_alpha(np.array(KRIPPENDORFF_EXAMPLE)[::-1, ::-1], level=level) == pytest.approx(
        krippendorff_alpha(KRIPPENDORFF_EXAMPLE, level=level)
    )


def test_krippendorff_alpha_undefined_and_out_of_domain():
    assert math.isnan(krippendorff_alpha([[1, 1], [1, 1]], level="nominal"))  # one value: nothing to measure
    assert math.isnan(krippendorff_alpha([[1, NAN], [NAN, 2]], level="nominal"))  # no unit with two raters
    with pytest.raises(ValueError, match="not in the value domain"):
        krippendorff_alpha([[1, 5], [1, 2]], level="ordinal", value_domain=[1, 2, 3])


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_alpha_matches_package_on_random_data(level):
    rng = np.random.default_rng(2)
    for _ in range(30):
        raters, units = int(rng.integers(2, 7)), int(rng.integers(5, 80))
        data = rng.integers(1, 6, (raters, units)).astype(float)
        data[rng.random(data.shape) < 0.3] = NAN
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        assert krippendorff_alpha(data, level=level) == pytest.approx(expected, abs=1e-9)


def test_percent_agreement_and_unanimity():
    data = [[1, 1, 0, NAN], [1, -1, 0, 1], [1, 1, NAN, NAN]]
    # unit 0: all agree (1); unit 1: 1 of 3 pairs agree; unit 2: 2 values agree; unit 3: not pairable
    assert percent_agreement(data) == pytest.approx((1 + 1 / 3 + 1) / 3)
    assert unanimous_share(data) == (2, 3)


def test_pairwise_kappa_skips_small_overlap():
    data = [[1, 2, 3, NAN], [1, 2, 2, NAN], [NAN, NAN, NAN, 1]]
    result = pairwise_kappa(data, raters=["x", "y", "z"])
    assert list(result.pairs) == [("x", "y")]
    assert result.mean == pytest.approx(cohen_kappa_score([1, 2, 3], [1, 2, 2], weights="quadratic"))


def test_reliability_matrix_from_records():
    matrix, raters, units = reliability_matrix([("u1", "a", 1), ("u1", "b", -1), ("u2", "a", None)])
    assert raters == ["a", "b"] and units == ["u1", "u2"]
    assert matrix[0, 0] == 1 and matrix[1, 0] == -1 and np.isnan(matrix[0, 1]) and np.isnan(matrix[1, 1])


def test_rater_vs_reference_missing_is_disagreement():
    ref = [1, -1, 0, 1, None]
    lm = [1, None, 1, -1, 1]
    result = rater_vs_reference(lm, ref, skip_reference={0})
    assert (result.units, result.agreeing, result.missing) == (3, 1, 1)
    assert result.agreement == pytest.approx(1 / 3)
    lenient = rater_vs_reference(lm, ref, skip_reference={0}, missing_as_disagreement=False)
    assert lenient.units == 2 and lenient.agreement == 0.5


def test_annotator_stats_bias_gold_time():
    records = []
    for unit in range(20):
        # "left" always picks the response shown first; half the time B was shown first.
        swapped = unit % 2 == 1
        records.append(AnnotatorRecord(unit, "left", 1 if swapped else -1, swapped, 1000 + unit, gold=-1))
        records.append(AnnotatorRecord(unit, "good", -1, False, 5000, gold=-1))
        records.append(AnnotatorRecord(unit, "good2", -1, True, 7000))
    stats = annotator_stats(records)
    assert stats["left"]["left_rate"] == 1.0 and stats["left"]["left_bias_p"] < 1e-4
    assert stats["left"]["gold_accuracy"] == 0.5
    assert stats["left"]["agreement_with_others"] == 0.5
    assert stats["good"]["gold_accuracy"] == 1.0
    assert stats["good"]["median_time_ms"] == 5000
    assert stats["good2"]["left_rate"] == 0.0  # chose A, shown on the right
    assert stats["good"]["agreement_with_others"] == 1.0  # the others' majority: tie units left out
    assert stats["good"]["units_compared"] == 10


def test_agreement_by_group():
    data = np.array([[1, 1, -1, -1], [1, -1, -1, -1]], dtype=float)
    out = agreement_by_group(
        data, {"x": [0, 1], "y": [2, 3]}, reference=[1, 0, -1, -1], rater=[1, 1, 1, None], skip_reference={0}
    )
    assert out["y"]["percent_agreement"] == 1.0 and out["x"]["percent_agreement"] == 0.5
    assert out["x"]["rater_agreement"] == 1.0 and out["y"]["rater_agreement"] == 0.0
