"""Candidates, PPM and routing strategies on a synthetic pool (no models)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.candidates import (
    ChunkedSampler,
    balanced_uniform_masks,
    generate_candidates,
    sample_budgets,
    tag_group_fill_masks,
)
from routing.config import PAPER, RECOMMENDED
from routing.features import FeatureBuilder
from routing.ppm import PPM, load_ppm, regression_metrics
from routing.strategies import greedy, resolve_budget, route, simulated, tag_gain_table, top_k


@pytest.fixture(scope="module")
def builder(table):
    return FeatureBuilder(table, RECOMMENDED)


def true_perf(X: np.ndarray) -> np.ndarray:
    """A known quadratic of the features: what the PPM should recover."""
    rng = np.random.default_rng(42)
    g = rng.normal(size=X.shape[1])
    A = rng.normal(size=(X.shape[1], 4))
    return 0.6 + 0.1 * X @ g - 0.5 * ((X @ A) ** 2).sum(axis=1)


@pytest.fixture(scope="module")
def fitted(builder):
    rng = np.random.default_rng(0)
    cands = generate_candidates(builder.T, 300, rng)
    X = builder.transform(cands.masks)
    y = true_perf(X)
    return PPM("quadratic").fit(X, y, builder.feature_names), X, y, cands


def test_candidates_mix_extremes_and_budgets(builder):
    rng = np.random.default_rng(1)
    c = generate_candidates(builder.T, 50, rng)
    assert c.kinds[:2] == ["all_lm", "all_human"]
    assert c.budgets[0] == 0 and c.budgets[1] == builder.n
    assert set(c.kinds[2:]) == {"tag_group_fill", "tag_bernoulli", "uniform"}
    paper = generate_candidates(builder.T, 20, rng, PAPER)
    assert set(paper.kinds) == {"tag_group_fill"} and (paper.budgets >= 1).all()


def test_balanced_uniform_masks_route_every_instance_equally_often():
    """Four masks of a quarter are a partition, four halves route each instance twice (two complementary
    pairs); each mask alone is uniform: over many draws every instance is routed about b/n of the time."""
    rng = np.random.default_rng(0)
    quarters = balanced_uniform_masks(40, 10, 4, rng)
    assert (quarters.sum(axis=1) == 10).all() and (quarters.sum(axis=0) == 1).all()
    halves = balanced_uniform_masks(40, 20, 4, rng)
    assert (halves.sum(axis=0) == 2).all() and (halves[0] == ~halves[2]).all()
    assert (balanced_uniform_masks(41, 13, 16, rng).sum(axis=1) == 13).all()
    first = np.stack([balanced_uniform_masks(30, 9, 4, rng)[0] for _ in range(4000)])
    assert np.abs(first.mean(axis=0) - 0.3).max() < 0.04
    with pytest.raises(ValueError, match="budget"):
        balanced_uniform_masks(10, 11, 2, rng)


@given(st.integers(0, 2**32 - 1), st.integers(0, 600))
@settings(max_examples=30, deadline=None)
def test_fixed_budget_routes_exactly_b(seed, b):
    T = _T()
    c = generate_candidates(T, 6, np.random.default_rng(seed), budgets=np.full(6, b))
    assert (c.masks.sum(axis=1) == b).all()


_CACHE: dict = {}


def _T() -> np.ndarray:
    if "T" not in _CACHE:
        from tests.routing.conftest import synthetic_table

        _CACHE["T"] = synthetic_table().matrix()
    return _CACHE["T"]


def test_tag_group_fill_walks_tags_in_order():
    """With one tag per instance group, the first tag's instances fill the budget before any other."""
    T = np.zeros((9, 3), bool)
    T[0:3, 0] = T[3:6, 1] = T[6:9, 2] = True
    masks = tag_group_fill_masks(T, np.array([3, 4, 6]), np.random.default_rng(0))
    for m in masks:
        groups = [m[0:3].sum(), m[3:6].sum(), m[6:9].sum()]
        assert sorted(groups, reverse=True)[: int(np.ceil(m.sum() / 3))][0] == 3


def test_same_seed_same_result(fitted, builder):
    ppm = fitted[0]
    for name in ("simulated", "greedy", "top_k"):
        a = route(name, ppm, builder, 150, np.random.default_rng(7))
        b = route(name, ppm, builder, 150, np.random.default_rng(7))
        assert (a.mask == b.mask).all() and a.predicted == b.predicted
    c1 = generate_candidates(builder.T, 40, np.random.default_rng(3))
    c2 = generate_candidates(builder.T, 40, np.random.default_rng(3))
    assert (c1.masks == c2.masks).all()


@pytest.mark.parametrize("budget", [0, 1, 150, 0.25, 599, 600, 1.0])
def test_simulated_routes_exactly_b(fitted, builder, budget):
    b = resolve_budget(budget, builder.n)
    for sampler in ("masks", "uniform", "fill", "fill+masks"):
        r = simulated(fitted[0], builder, budget, np.random.default_rng(0), k=300, sampler=sampler)
        assert r.mask.sum() == b == r.budget
        assert r.predicted == pytest.approx(fitted[0].predict(builder.transform(r.mask[None]))[0])


@given(st.integers(0, 2**32 - 1), st.integers(0, 600))
@settings(max_examples=30, deadline=None)
def test_chunked_sampler_counts_match_masks(seed, b):
    T = _T()
    s = ChunkedSampler(T, b, np.random.default_rng(seed), per_round=8)
    counts, state = s.round()
    for row in (0, 7):
        m = s.mask(state, row)
        assert m.sum() == b
        assert np.allclose(counts[row], m.astype(np.float32) @ T)


def test_quadratic_ppm_recovers_known_quadratic():
    """Synthetic candidates in a 6-feature space: the fitted form (c, g, Q) is the true one."""
    rng = np.random.default_rng(5)
    X = rng.random((200, 6))
    c, g = 0.7, rng.normal(size=6)
    Q = rng.normal(size=(6, 6))
    Q = (Q + Q.T) / 2

    def f(Z):
        return c + Z @ g + np.einsum("kf,fg,kg->k", Z, Q, Z)

    for mode in ("recommended", "paper"):
        ppm = PPM("quadratic", mode=mode).fit(X, f(X))
        c_hat, g_hat, Q_hat = ppm.form_
        assert c_hat == pytest.approx(c, abs=1e-3)
        assert np.allclose(g_hat, g, atol=1e-3) and np.allclose(Q_hat, Q, atol=1e-3)
        Xh = rng.random((50, 6))
        assert ppm.evaluate(Xh, f(Xh))["spearman"] > 0.999


def test_quadratic_ppm_on_candidates_beats_linear(fitted, builder):
    ppm, X, y, _ = fitted
    held = generate_candidates(builder.T, 100, np.random.default_rng(99))
    Xh = builder.transform(held.masks)
    metrics = ppm.evaluate(Xh, true_perf(Xh))
    assert metrics["spearman"] > 0.8
    linear = PPM("linear").fit(X, y)
    assert linear.evaluate(Xh, true_perf(Xh))["rmse"] > metrics["rmse"]


def test_explicit_form_matches_pipeline(fitted):
    ppm, X, _, _ = fitted
    assert np.allclose(ppm.predict(X[:20]), ppm.estimator_.predict(X[:20]), atol=1e-8)
    paper = PPM("quadratic", mode="paper").fit(X[:50, :10], X[:50, 0] ** 2 + 1)
    assert np.allclose(paper.predict(X[50:60, :10]), paper.estimator_.predict(X[50:60, :10]), atol=1e-6)


def test_marginal_gains_are_exact(fitted, builder):
    ppm = fitted[0]
    x = builder.transform(np.eye(1, builder.n, 5, dtype=bool))[0]
    D = builder.deltas()[:30]
    expected = ppm.predict(x[None, :] + D) - ppm.predict(x[None, :])[0]
    assert np.allclose(ppm.marginal_gains(x, D), expected)


def test_lightgbm_and_linear_kinds(fitted):
    _, X, y, _ = fitted
    for kind in ("linear", "lightgbm"):
        p = PPM(kind).fit(X, y)
        assert p.predict(X[:3]).shape == (3,)
    with pytest.raises(ValueError, match="kind"):
        PPM("cubic").fit(X, y)


def test_save_load_roundtrip(fitted, tmp_path):
    ppm, X, _, _ = fitted
    path = ppm.save(
        tmp_path / "ppm.joblib", training_data_ref="synthetic", seed=0, tag_versions={"rouge": "v"}
    )
    back = load_ppm(path)
    assert np.allclose(back.predict(X), ppm.predict(X))
    meta = back.metadata_
    assert meta["feature_names"][-1] == "human_share" and meta["seed"] == 0 and meta["kind"] == "quadratic"
    assert (tmp_path / "ppm.joblib.json").is_file()
    with pytest.raises(FileNotFoundError):
        load_ppm(tmp_path / "missing.joblib")


def test_greedy_beats_simulated_k500(fitted, builder):
    ppm = fitted[0]
    for budget in (60, 150, 300):
        sim = simulated(ppm, builder, budget, np.random.default_rng(0), k=500)
        gr = greedy(ppm, builder, budget, np.random.default_rng(0))
        assert gr.mask.sum() == budget
        assert gr.predicted >= sim.predicted


def test_greedy_guard_stays_near_training(fitted, builder):
    ppm = fitted[0]
    gr = greedy(ppm, builder, 150, guard=True)
    assert gr.info["final_distance"] <= gr.info["radius"] * 1.05


def test_top_k_and_gains(fitted, builder):
    ppm = fitted[0]
    r = top_k(ppm, builder, 100)
    assert r.mask.sum() == 100
    assert r.gains[r.mask].min() >= r.gains[~r.mask].max()
    rows = tag_gain_table(ppm, builder, np.random.default_rng(0), n=20, trials=3)
    assert len(rows) == 90 and rows[0]["gain"] >= rows[-1]["gain"] or np.isnan(rows[-1]["gain"])
    assert rows[0]["gain_per_instance"] == pytest.approx(rows[0]["gain"] / rows[0]["n"])


def test_unlimited(fitted, builder):
    ppm = fitted[0]
    r = route("unlimited", ppm, builder, None, np.random.default_rng(0))
    assert r.mask.sum() == (r.gains > 0).sum()
    s = route("unlimited", ppm, builder, None, np.random.default_rng(0), method="search", grid=5, k=100)
    assert set(s.info["tried"]) == {0.0, 0.25, 0.5, 0.75, 1.0}


def test_budget_resolution():
    assert (
        resolve_budget(0.25, 1000) == 250 and resolve_budget(10, 1000) == 10 and resolve_budget(1.0, 7) == 7
    )
    for bad in (-1, 1001, 1.5, True):
        with pytest.raises(ValueError):
            resolve_budget(bad, 1000)
    with pytest.raises(ValueError):
        route("random", None, None, 1, np.random.default_rng(0))
    assert sample_budgets(5, 10, np.random.default_rng(0)).max() <= 9


def test_metrics():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    assert m["spearman"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(np.sqrt(1 / 3))


def test_count_space_predictor_matches_ppm(fitted, builder):
    from routing.strategies import count_space_predictor

    ppm = fitted[0]
    sampler = ChunkedSampler(builder.T_count, 200, np.random.default_rng(0), per_round=16)
    counts, _ = sampler.round()
    fast = count_space_predictor(ppm, builder, 200)
    assert np.allclose(fast(counts), ppm.predict(builder.from_counts(counts, np.full(16, 200))), atol=1e-4)
