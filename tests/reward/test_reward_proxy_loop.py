"""Proxy BT heads, the PPM loop and the experiment on synthetic features (no model loaded: fast)."""

from __future__ import annotations

import numpy as np
import pytest

from models.reward.features import PairFeatures
from models.reward.proxy import ProxyRewardModel, ProxySettings, fit_heads
from routing.training.adapters import candidate_features, simple_tags
from routing.training.experiment import ExperimentConfig, format_table, run_experiment, summarise
from routing.training.loop import HeldoutTarget, Pool, run_loop


def synthetic_pool(n: int = 160, d: int = 8, seed: int = 0) -> Pool:
    """Human labels follow a hidden reward; the LM is right 65% of the time."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    human = np.where((b - a) @ w > 0, 1, -1)
    lm = np.where(rng.uniform(size=n) < 0.65, human, -human)
    tags = np.stack([a[:, 0] > 0, b[:, 1] > 0, rng.uniform(size=n) < 0.3], axis=1)
    return Pool(human, lm, tags, ["t0", "t1", "t2"], PairFeatures(a.astype(np.float32), b.astype(np.float32)))


def test_vectorised_heads_equal_single_heads():
    pool = synthetic_pool()
    settings = ProxySettings(features="pr", l2=1e-2)
    labels = np.stack([pool.human, pool.lm, np.where(np.arange(160) < 80, pool.human, 0)])
    W = fit_heads(pool.features.diffs, labels, settings)
    for h in range(3):
        single = fit_heads(pool.features.diffs, labels[h : h + 1], settings)[0]
        np.testing.assert_allclose(W[h], single, atol=2e-3)
    # the head trained on human labels ranks the gold winner higher on nearly every pair
    assert np.mean((pool.features.diffs @ W[0]) * pool.human > 0) > 0.95


def test_proxy_reward_model_fit_predict_and_errors():
    pool = synthetic_pool()
    model = ProxyRewardModel(ProxySettings(features="pr")).fit(
        pool.features.phi_a, pool.features.phi_b, pool.human
    )
    gap = model.predict(pool.features.phi_b) - model.predict(pool.features.phi_a)
    assert np.mean(gap * pool.human > 0) > 0.95
    with pytest.raises(ValueError, match="non-tie"):
        ProxyRewardModel().fit(pool.features.phi_a, pool.features.phi_b, np.zeros(160))
    with pytest.raises(RuntimeError, match="before fit"):
        ProxyRewardModel().predict(pool.features.phi_a)
    with pytest.raises(ValueError, match="features"):
        ProxySettings(features="nope")


def test_loop_rows_are_paired_and_deterministic():
    pool = synthetic_pool()
    target = HeldoutTarget.make(160, n_splits=3, test_fraction=0.3, seed=0)
    r1 = run_loop(pool, [target], k=20, seed=3, settings=ProxySettings(features="pr"))
    r2 = run_loop(pool, [target], k=20, seed=3, settings=ProxySettings(features="pr"))
    np.testing.assert_array_equal(r1.scores["heldout"]["score"], r2.scores["heldout"]["score"])
    s = r1.scores["heldout"]["score"]
    all_lm, all_human = s[r1.masks.sum(1) == 0][0], s[r1.masks.sum(1) == 160][0]
    assert all_human > all_lm
    assert len(r1.rows()) == 20 and r1.features.shape[1] == 4  # 3 tags + human share
    assert {m["kind"] for m in r1.ppm_metrics["heldout"]} == {"linear", "quadratic", "lightgbm"}


def test_candidate_features_are_shares():
    tags = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], bool)
    v = candidate_features(np.array([[1, 1, 0, 0]], bool), tags)
    assert v.tolist() == [[0.5, 0.25, 0.5]]


def test_experiment_has_control_and_paired_differences():
    pool = synthetic_pool(n=200)
    config = ExperimentConfig(seeds=(0, 1), k=16, inner_splits=2, strategies=("simulated", "topk"),
                              simulated_k=50, settings=ProxySettings(features="pr"))  # fmt: skip
    rows = run_experiment(pool, None, config)
    summary = summarise(rows)
    methods = {(s["method"], s["strategy"], s["budget"]) for s in summary}
    assert ("random labels", "", None) in methods and ("100% human", "", 1.0) in methods
    assert ("routed", "topk", 0.5) in methods
    routed = [s for s in summary if s["method"] == "routed"]
    assert all("vs_random_mean" in s for s in routed)
    human = next(s for s in summary if s["method"] == "100% human")
    control = next(s for s in summary if s["method"] == "random labels")
    assert human["mean"] > control["mean"] + 0.2
    assert "random labels" in format_table(summary)


def test_simple_tags_bins():
    from models.reward.data import Instance

    inst = [Instance(str(i), "p " * i, "a " * i, "b " * (2 * i), -1, {}, "c") for i in range(20)]
    T, names = simple_tags(inst, min_category=5)
    assert T.shape == (20, len(names)) and "category:c" in names and "len_longer:high" in names
    for group in ("prompt_len", "len_shorter", "len_longer", "token_len_diff"):
        cols = [k for k, n in enumerate(names) if n.startswith(group + ":")]
        assert (T[:, cols].sum(1) == 1).all()  # every instance lands in exactly one bin
