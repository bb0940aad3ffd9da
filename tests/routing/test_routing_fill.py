"""Route's default candidates: Algorithm 1's tag-group fill scored from counts (FillSampler), exact budgets,
counts equal to those of the rebuilt masks, and at least as good a route as 500 explicit masks."""

from __future__ import annotations

import numpy as np
import pytest

from routing.candidates import FillSampler, top_b
from routing.features import FeatureBuilder
from routing.ppm import PPM
from routing.strategies import DEFAULT_K, simulated, top_k
from tests.routing.conftest import synthetic_table


@pytest.mark.parametrize("budget", [0, 1, 150, 450, 599, 600])
def test_fill_counts_are_the_masks_counts_with_exact_budget(table, budget):
    T = table.matrix()
    sampler = FillSampler(T, budget, np.random.default_rng(budget), per_round=500)
    counts, state = sampler.round()
    for row in [0, 1, 17, 250, len(counts) - 1]:
        mask = sampler.mask(state, row)
        assert mask.sum() == budget
        np.testing.assert_allclose(counts[row], mask.astype(np.float32) @ T.astype(np.float32))


def test_first_candidate_of_a_round_is_algorithm_1(table):
    """Walking the round's tag order: every tag taken whole has all its carriers routed, the next tag's
    carriers fill the rest, nothing else is routed."""
    T = table.matrix()
    sampler = FillSampler(T, 200, np.random.default_rng(5), per_round=10)
    _, state = sampler.round()
    mask = sampler.mask(state, 0)
    order = np.argsort(state["rank"])  # tags in the round's order
    chosen = np.zeros(len(T), bool)
    for tag in order:
        new = T[:, tag] & ~chosen
        if chosen.sum() + new.sum() > 200:
            assert (mask[new] | ~mask[new]).all() and mask[~chosen & ~new].sum() == 0
            assert mask[new].sum() == 200 - chosen.sum()
            break
        chosen |= new
        assert mask[chosen].all()


def test_candidates_of_a_round_differ():
    T = synthetic_table(n=300).matrix()
    counts, _ = FillSampler(T, 90, np.random.default_rng(0), per_round=2000).round()
    assert len(np.unique(counts, axis=0)) > 0.5 * len(counts)


def test_top_b_keeps_exactly_b_largest_per_row():
    rng = np.random.default_rng(0)
    priority = rng.random((5, 40))
    budgets = np.array([0, 1, 7, 39, 40])
    mask = top_b(priority, budgets)
    assert mask.sum(axis=1).tolist() == budgets.tolist()
    for row, b in zip(priority, budgets, strict=True):
        kept = np.sort(np.argsort(-row)[:b])
        assert np.flatnonzero(mask[budgets.tolist().index(b)]).tolist() == kept.tolist()
    with pytest.raises(ValueError, match="budgets"):
        top_b(priority, 41)


def test_route_default_is_not_worse_than_500_masks(table):
    """The default draws the 500 explicit masks first (the same stream as ``sampler="masks"``), then the
    fill: never a worse predicted route, whatever the PPM favours."""
    builder = FeatureBuilder(table)
    rng = np.random.default_rng(1)
    X = builder.transform(rng.random((120, builder.n)) < rng.random((120, 1)))
    ppm = PPM("quadratic").fit(X, X @ rng.normal(0, 0.05, X.shape[1]) - (X[:, -1] - 0.4) ** 2)
    fast = simulated(ppm, builder, 0.25, np.random.default_rng(2))
    masks = simulated(ppm, builder, 0.25, np.random.default_rng(2), k=500, sampler="masks")
    assert (
        fast.info["sampler"] == "fill+masks" and fast.info["k"] == DEFAULT_K + 501 and fast.mask.sum() == 150
    )
    assert fast.predicted >= masks.predicted
    with pytest.raises(ValueError, match="sampler"):
        simulated(ppm, builder, 0.25, rng, sampler="auto")


def test_default_route_includes_the_top_gain_mask(table):
    """The default family also scores the mask of the b largest instance gains: under a linear PPM at a fixed
    budget that mask is the exact optimum (its prediction is a sum of per-instance gains), so the default
    route is top_k's and beats any sampled search; under a quadratic PPM it is at least as good as top_k's."""
    builder = FeatureBuilder(table)
    rng = np.random.default_rng(4)
    X = builder.transform(rng.random((150, builder.n)) < rng.random((150, 1)))
    y = X @ rng.normal(0, 0.05, X.shape[1]) - (X[:, -1] - 0.4) ** 2
    linear = PPM("linear").fit(X, X @ rng.normal(0, 0.05, X.shape[1]))
    for budget in (60, 150, 300):
        sim = simulated(linear, builder, budget, np.random.default_rng(5))
        best = top_k(linear, builder, budget)
        assert sim.predicted == pytest.approx(best.predicted, abs=1e-9)
        search = simulated(linear, builder, budget, np.random.default_rng(5), sampler="fill")
        assert sim.predicted >= search.predicted
    quadratic = PPM("quadratic").fit(X, y)
    for budget in (60, 150, 300):
        sim = simulated(quadratic, builder, budget, np.random.default_rng(6))
        assert sim.predicted >= top_k(quadratic, builder, budget).predicted - 1e-12
