"""Proxy BT heads, the PPM loop and the experiment on synthetic features (no model loaded: fast)."""

from __future__ import annotations

import numpy as np
import pytest

from models.reward.data import LabelledPair
from models.reward.features import PairFeatures
from models.reward.proxy import ProxyRewardModel, ProxySettings, fit_heads
from routing.binning import PAPER_FEATURES, TagTable
from routing.descriptive import DESCRIPTIVE_FEATURES
from routing.experiment import ExperimentConfig, format_table, run_experiment, summarise
from routing.features import HUMAN_SHARE, FeatureBuilder
from routing.ppm_loop import HeldoutTarget, RoutingPool, pool_from_instances, run_loop
from routing.tag_cache import category_columns, instance_tag_table
from routing.textual import LENGTH_TAGS, SIMILARITY_TAGS, TAG_NAMES


def synthetic_table(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> TagTable:
    """Raw textual values tied to the pairs (so tags carry signal), no tagger answers, one extra tag."""
    n = len(a)
    textual = {t: rng.random(n) for t in SIMILARITY_TAGS}
    textual["cosine_sim"] = (np.tanh(a[:, 0] * b[:, 0]) + 1) / 2
    textual.update({t: rng.integers(0, 300, n).astype(float) for t in LENGTH_TAGS})
    textual["len_longer"] = np.abs(a[:, 1]) * 100
    extra = (rng.uniform(size=n) < 0.3)[:, None]
    desc = np.concatenate([np.zeros((n, len(DESCRIPTIVE_FEATURES)), bool), extra], axis=1)
    return TagTable(list(range(n)), textual, desc, (*DESCRIPTIVE_FEATURES, "category:x"))


def synthetic_pool(n: int = 160, d: int = 8, seed: int = 0) -> RoutingPool:
    """Human labels follow a hidden reward; the LM is right 65% of the time."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    human = np.where((b - a) @ w > 0, 1, -1)
    lm = np.where(rng.uniform(size=n) < 0.65, human, -human)
    builder = FeatureBuilder(synthetic_table(a, b, rng))
    return RoutingPool(human, lm, builder, PairFeatures(a.astype(np.float32), b.astype(np.float32)))


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
    # the routing core's 90 paper features, the extra tag, and the human share (recommended mode)
    assert r1.feature_names == [*PAPER_FEATURES, "category:x", HUMAN_SHARE]
    assert len(r1.rows()) == 20 and r1.features.shape[1] == 92
    assert {m["kind"] for m in r1.ppm_metrics["heldout"]} == {"linear", "quadratic", "lightgbm"}
    ppm = r1.ppms["heldout"]
    assert ppm.feature_names_ == r1.feature_names and ppm.metrics_["n"] == 5


def test_candidate_features_are_the_routing_core_shares():
    pool = synthetic_pool()
    mask = np.zeros(160, bool)
    mask[:40] = True
    v = pool.builder.transform(mask)[0]
    np.testing.assert_allclose(v[:-1], pool.tags[:40].sum(0) / 160)
    assert v[-1] == 0.25


def test_pool_requires_ties_dropped():
    pool = synthetic_pool()
    human = pool.human.copy()
    human[3] = 0
    with pytest.raises(ValueError, match="ties must be dropped"):
        RoutingPool(human, pool.lm, pool.builder, pool.features)


def test_experiment_has_control_and_paired_differences():
    pool = synthetic_pool(n=200)
    config = ExperimentConfig(
        seeds=(0, 1),
        k=16,
        inner_splits=2,
        strategies=("simulated", "top_k", "greedy"),
        simulated_k=50,
        settings=ProxySettings(features="pr"),
    )
    rows = run_experiment(pool, None, config)
    summary = summarise(rows)
    methods = {(s["method"], s["strategy"], s["budget"]) for s in summary}
    assert ("random labels", "", None) in methods and ("100% human", "", 1.0) in methods
    assert ("routed", "top_k", 0.5) in methods and ("routed", "greedy", 0.25) in methods
    routed = [s for s in summary if s["method"] == "routed"]
    assert all("vs_random_mean" in s for s in routed)
    human = next(s for s in summary if s["method"] == "100% human")
    control = next(s for s in summary if s["method"] == "random labels")
    assert human["mean"] > control["mean"] + 0.2
    assert "random labels" in format_table(summary)


def test_experiment_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="topk"):
        run_experiment(synthetic_pool(), None, ExperimentConfig(strategies=("topk",)))


def _instances(n: int = 30) -> list[LabelledPair]:
    return [
        LabelledPair(
            str(i),
            "p " * (i + 1),
            "a " * (i + 1),
            "b " * (2 * i + 1),
            [-1, 1, 0][i % 3],
            {"judge": [1, -1, 1, 0, -1][i % 5]},
            "c" if i % 2 else "d",
        )
        for i in range(n)
    ]


def test_tag_table_of_a_file_is_cached_by_content_and_version(tmp_path, monkeypatch):
    """Textual tags computed once per (file hash, tag versions); descriptive columns all zero."""
    calls = []

    def fake(pairs, mode, tags, device=None, progress=None):
        calls.append(len(pairs))
        return {t: np.linspace(0, 1, len(pairs)) * (j + 1) for j, t in enumerate(tags)}

    monkeypatch.setattr("routing.tag_cache.compute_textual_tags", fake)
    inst = _instances()
    table = instance_tag_table(inst, tmp_path, "digest-1", min_category=5)
    again = instance_tag_table(inst, tmp_path, "digest-1", min_category=5)
    assert calls == [30]  # the second call read the cache
    np.testing.assert_array_equal(table.matrix(), again.matrix())
    assert table.feature_names == [*PAPER_FEATURES, "category:c", "category:d"]
    T = table.matrix()
    assert not T[:, 27 : 27 + len(DESCRIPTIVE_FEATURES)].any()
    for j in range(len(TAG_NAMES)):  # every instance in exactly one bin of each textual tag
        assert (T[:, 3 * j : 3 * j + 3].sum(1) == 1).all()
    instance_tag_table(inst, tmp_path, "digest-2")  # another file content: recomputed
    assert calls == [30, 30]
    assert category_columns(inst, min_count=16)[1] == []


def test_pool_from_instances_uses_the_pool_rule(tmp_path, monkeypatch):
    class Cache:
        def embed(self, texts, progress=None):
            return np.stack([[len(t), t.count("a"), t.count("b"), 1.0] for t in texts]).astype(np.float32)

    monkeypatch.setattr(
        "routing.tag_cache.compute_textual_tags",
        lambda pairs, mode, tags, device=None, progress=None: {
            t: np.linspace(0, 1, len(pairs)) for t in tags
        },
    )
    inst = _instances()
    table = instance_tag_table(inst, tmp_path, "d", categories=False)
    settings = ProxySettings(features="pr")
    pool, kept = pool_from_instances(inst, "judge", Cache(), table, settings)
    assert [i.id for i in kept] == [i.id for i in inst if i.human != 0 and i.lm["judge"] != 0]
    assert pool.builder.table.instance_ids == [i.id for i in kept]
    with pytest.raises(ValueError, match="same order"):
        pool_from_instances(inst[::-1], "judge", Cache(), table, settings)
