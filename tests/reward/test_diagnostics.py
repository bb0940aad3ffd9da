"""routing.diagnostics on small synthetic data (no model loaded: fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.reward.features import PairFeatures
from models.reward.proxy import ProxySettings
from routing import diagnostics as dg
from routing.binning import TagTable
from routing.descriptive import DESCRIPTIVE_FEATURES
from routing.experiment import ExperimentConfig, run_experiment, summarise
from routing.features import FeatureBuilder
from routing.ppm_loop import RoutingPool
from routing.textual import LENGTH_TAGS, SIMILARITY_TAGS


def _pool(n: int = 120, d: int = 6, seed: int = 0) -> RoutingPool:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    human = np.where((b - a) @ w > 0, 1, -1)
    lm = np.where(rng.uniform(size=n) < 0.65, human, -human)
    textual = {t: rng.random(n) for t in SIMILARITY_TAGS}
    textual.update({t: rng.integers(0, 300, n).astype(float) for t in LENGTH_TAGS})
    desc = np.concatenate(
        [np.zeros((n, len(DESCRIPTIVE_FEATURES)), bool), (rng.uniform(size=n) < 0.3)[:, None]], axis=1
    )
    table = TagTable(list(range(n)), textual, desc, (*DESCRIPTIVE_FEATURES, "category:x"))
    return RoutingPool(
        human, lm, FeatureBuilder(table), PairFeatures(a.astype(np.float32), b.astype(np.float32))
    )


def test_variance_components_recover_true_and_noise_sd():
    rng = np.random.default_rng(0)
    M, S, true_sd, fold_sd = 2000, 5, 0.02, 0.05
    F = rng.normal(0, true_sd, (M, 1)) + rng.normal(0, fold_sd, (M, S)) + rng.normal(0, 0.1, (1, S))
    c = dg.pool_components([dg.variance_components(F)])
    assert c["true_sd"] == pytest.approx(true_sd, rel=0.1)
    assert c["noise_sd"] == pytest.approx(fold_sd / math.sqrt(S), rel=0.1)  # noise of the S-fold mean
    assert c["spread_sd"] ** 2 == pytest.approx(c["true_sd"] ** 2 + c["noise_sd"] ** 2, rel=1e-6)
    # pure noise: no true spread, low reliability; the common fold effect (0.1) never counts as noise
    P = dg.pool_components([dg.variance_components(rng.normal(0, 0.05, (500, S)))])
    assert P["true_sd"] < 0.005 and P["reliability"] < 0.1 and P["signal_to_noise"] < 0.3
    with pytest.raises(ValueError):
        dg.variance_components(np.zeros((2, 5)))


def test_folds_are_balanced_and_stratified():
    rng = np.random.default_rng(1)
    f = dg.balanced_folds(53, 5, rng)
    assert sorted(np.bincount(f)) == [10, 10, 11, 11, 11]
    groups = np.repeat([0, 1, 2], [6, 20, 7])
    s = dg.stratified_folds(groups, 5, rng)
    for g in range(3):
        assert set(s[groups == g]) == set(range(5))


def test_within_budget_spearman_exposes_share_inflation():
    rng = np.random.default_rng(2)
    share = np.repeat([0.25, 0.5, 0.75], 30)
    measured = 0.1 * share + rng.normal(0, 0.003, share.size)  # the share drives the score
    predicted = 0.1 * share + rng.normal(0, 0.003, share.size)  # the PPM knows only the share
    assert dg.spearman(predicted, measured) > 0.85
    within = [dg.spearman(predicted[share == b], measured[share == b]) for b in (0.25, 0.5, 0.75)]
    assert abs(np.mean(within)) < 0.3
    assert math.isnan(dg.spearman([1, 1, 1], [1, 2, 3]))


def test_probe_masks_and_mask_geometry():
    pool = _pool()
    T, n = pool.builder.T, pool.builder.n
    rng = np.random.default_rng(3)
    masks, kinds = dg.probe_masks(T, 30, 9, rng, pool.builder.mode)
    assert masks.shape == (9, n) and (masks.sum(1) == 30).all()
    assert kinds.count("uniform") == 5 and set(kinds) - {"uniform"} <= set(dg.STRUCTURED)
    uniform, _ = dg.probe_masks(T, 30, 60, rng, pool.builder.mode)
    uniform = uniform[:30]
    counts = pool.builder.counts
    random_geo = dg.mask_geometry(uniform[0], uniform[1:], counts(uniform[:1])[0], counts(uniform[1:]))
    assert random_geo["expected_overlap"] == pytest.approx(30 / n)
    overlaps = dg.mask_overlaps(uniform)
    assert overlaps.shape == (30,) and overlaps.mean() == pytest.approx(30 / n, abs=0.03)
    assert dg.mask_overlaps(np.stack([uniform[0], uniform[0]])).tolist() == [1.0, 1.0]
    assert np.isnan(dg.mask_overlaps(uniform[:1])).all()
    assert random_geo["count_z_rms"] < 2.0 and 0.5 < random_geo["reference_z_rms"] < 1.5
    # a mask filled from one tag first is far from random in tag-count space
    col = int(np.argmin(np.abs(T.sum(0) - 0.3 * n)))
    skewed = np.zeros(n, bool)
    skewed[np.argsort(~T[:, col], kind="stable")[:30]] = True
    geo = dg.mask_geometry(skewed, uniform, counts(skewed[None])[0], counts(uniform), pool.builder.tag_names)
    assert geo["max_abs_z"] > 2 * geo["reference_max_abs_z"] and geo["count_z_rms"] > geo["reference_z_rms"]
    assert geo["top_tags"][0]["tag"] == pool.builder.tag_names[col]
    assert dg.percentile(2.0, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(37.5)


def _rows(true_sd: float, fold_sd: float, seeds: int = 3, k: int = 12, S: int = 5) -> list[dict]:
    """Hand-made experiment rows: share drives score; within a budget true effects of sd ``true_sd``."""
    rng = np.random.default_rng(4)
    rows = []
    for seed in range(seeds):
        meta = {"ppm_spearman": 0.93, "share_spearman": 0.95}
        for method, b in (("100% LM", 0.0), ("100% human", 1.0)):
            f = 0.1 * b + rng.normal(0, fold_sd, S)
            rows.append(
                dict(
                    seed=seed,
                    objective="heldout",
                    method=method,
                    strategy="",
                    budget=b,
                    score=float(f.mean()),
                    predicted=0.1 * b,
                    fold_scores=f.tolist(),
                    **meta,
                )
            )
        for b in (0.25, 0.75):
            for j in range(k + 2):
                method, kind = (
                    ("probe", "uniform" if j % 2 else "tag_bernoulli")
                    if j < k
                    else (("random", "") if j == k else ("routed", "simulated"))
                )
                mu = 0.1 * b + rng.normal(0, true_sd)
                f = mu + rng.normal(0, fold_sd, S)
                row = dict(
                    seed=seed,
                    objective="heldout",
                    method=method,
                    strategy=kind,
                    budget=b,
                    score=float(f.mean()),
                    predicted=0.1 * b + (0.01 if method == "routed" else 0.0) + rng.normal(0, 1e-4),
                    fold_scores=f.tolist(),
                    **meta,
                )
                if method == "routed":
                    row["geometry"] = {
                        "overlap_routed": 0.3,
                        "expected_overlap": b,
                        "count_z_rms": 5.0,
                        "reference_z_rms": 1.0,
                        "max_abs_z": 9.0,
                        "reference_max_abs_z": 2.5,
                        "budget": 10,
                        "top_tags": [],
                    }
                rows.append(row)
    return rows


def test_diagnose_says_noise_when_noise_dominates():
    d = dg.diagnose(_rows(true_sd=0.001, fold_sd=0.05))["heldout"]
    assert set(d["budgets"]) == {"0.25", "0.75"}
    assert d["signal"]["true_sd"] < d["signal"]["noise_sd"]
    assert d["across_spearman"]["mean"] > 0.5 > abs(d["within_spearman"]["mean"])
    r = d["budgets"]["0.25"]["routed"]["simulated"]
    assert r["predicted_gain"]["mean"] == pytest.approx(0.01, abs=1e-3)
    assert r["predicted_percentile"]["mean"] == 100.0
    text = dg.format_diagnosis({"heldout": d})
    assert "Signal < noise" in text and "human share" in text and "do differ from random" in text
    assert "comes from the human share" in text and "share 30% of their humans" in text
    # Noise dominates and 3 seeds are few: the paired difference stays inside one sd of zero.
    assert "Conclusion: routing cannot be seen to beat a single random mix here" in text


def test_diagnose_sees_signal_when_it_is_there():
    d = dg.diagnose(_rows(true_sd=0.05, fold_sd=0.01))["heldout"]
    assert d["signal"]["true_sd"] > d["signal"]["noise_sd"] and d["signal"]["reliability"] > 0.8
    assert "Signal >= noise" in d["conclusion"][0]
    assert dg.diagnose([r for r in _rows(0.01, 0.01) if r["method"] != "probe"]) == {}


def test_experiment_probes_leave_mixes_unchanged():
    pool = _pool(n=150)
    base = dict(
        seeds=(0,),
        k=12,
        inner_splits=2,
        strategies=("simulated", "top_k"),
        budgets=(0.3, 0.6),
        simulated_k=40,
        settings=ProxySettings(features="pr"),
    )
    plain = run_experiment(pool, None, ExperimentConfig(**base))
    probed = run_experiment(pool, None, ExperimentConfig(**base, probe_k=6, noise_folds=3))
    mixes = [r for r in probed if r["method"] != "probe"]
    assert [r["score"] for r in mixes] == [r["score"] for r in plain]
    assert summarise(plain) == summarise(probed)
    probes = [r for r in probed if r["method"] == "probe"]
    assert len(probes) == 2 * 6 and all(len(r["fold_scores"]) == 3 for r in probes)
    assert all("geometry" in r for r in mixes if r["method"] in ("random", "routed"))
    assert all(0 <= r["geometry"]["overlap_routed"] <= 1 for r in mixes if r["method"] == "routed")
    assert all(r["predicted"] is not None for r in mixes if r["method"] != "random labels")
    d = dg.diagnose(probed)["heldout"]
    assert set(d["budgets"]["0.3"]["routed"]) == {"simulated", "top_k"}
    assert "Conclusion" in dg.format_diagnosis({"heldout": d})
