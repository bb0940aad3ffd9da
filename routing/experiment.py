"""The routing experiment (paper 001 Figure 4) on the proxy reward model. No Django import.

Per seed: split the pool into a routing pool R and test pairs T (T is never seen by the PPM, the routing
or the proxy settings); run the PPM loop inside R (its held-out target uses inner splits of R; its
RewardBench target uses the dev half of the evaluation set); then train one proxy reward model on R for
each label mix and score it on T against the human aggregate and on the test half of the evaluation set:

- 100% human, 100% LM, random-label control;
- random mixes at each budget (share of R routed to humans);
- routed mixes at the same budgets, for each strategy, using the PPM fitted for that target.

Every score pairs with the others of the same seed (same R, same T), so differences are paired.

With ``probe_k`` > 0 the experiment also measures why routed and random mixes do or do not differ
(``routing.diagnostics``): per budget, ``probe_k`` extra same-budget candidates (rows with method
``"probe"``, trained by the same proxy in a separate call so the mixes' numbers are unchanged, drawn from a
separate random stream), every head scored on ``noise_folds`` disjoint folds of the test pairs
(``fold_scores``), the PPM's prediction for every mask (``predicted``), the routed masks' geometry against
the uniform probes (``geometry``), and the loop's held-out PPM Spearman and the human share's Spearman on the
loop's candidates (``ppm_spearman``, ``share_spearman``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.reward.evaluation import BenchLayout, heldout_accuracy
from models.reward.features import BenchFeatures, PairFeatures
from models.reward.proxy import ProxySettings, fit_heads
from routing import diagnostics
from routing.candidates import balanced_uniform_masks
from routing.features import FeatureBuilder
from routing.ppm import PPM
from routing.ppm_loop import BenchTarget, HeldoutTarget, RoutingPool, run_loop
from routing.strategies import DEFAULT_K, route

Progress = Callable[[int, int, str], None] | None
STRATEGIES = ("simulated", "top_k", "greedy")  # routing.strategies with a budget


@dataclass
class ExperimentConfig:
    budgets: Sequence[float] = (0.25, 0.5, 0.75)
    strategies: Sequence[str] = STRATEGIES
    seeds: Sequence[int] = (0, 1, 2, 3, 4)
    k: int = 200
    test_fraction: float = 0.3
    inner_splits: int = 5
    ppm_kind: str = "quadratic"
    simulated_k: int = DEFAULT_K
    settings: ProxySettings = ProxySettings()
    random_repeats: int = 1  # random mixes per budget and seed; their mean is the random reference
    paper_router: bool = False  # also route with a PPM that sees only the paper's tags (same candidates)
    oracle: bool = False  # diagnosis: a mix that sends human-vs-LM disagreements to people first
    probe_k: int = 0  # same-budget candidates per budget for routing.diagnostics; 0 = off
    noise_folds: int = 5  # disjoint test folds that measure score noise (with probe_k)


SETTINGS_GRID: tuple[ProxySettings, ...] = tuple(
    ProxySettings(features=f, l2=l2)
    for f in ("pr", "pr+len", "pr+resp+len")
    for l2 in (1e-3, 1e-2, 1e-1, 1.0)
)


def development_split(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(development rows, experiment rows): the development pairs choose the proxy's settings and never
    enter a routing pool or a test split."""
    if not 0 < fraction < 1:
        raise ValueError(f"development fraction {fraction}: expected a share strictly between 0 and 1")
    perm = np.random.default_rng([seed, 7]).permutation(n)
    n_dev = max(2, round(n * fraction))
    return np.sort(perm[:n_dev]), np.sort(perm[n_dev:])


def choose_proxy_settings(
    features_for: Callable[[ProxySettings], PairFeatures],
    human: np.ndarray,
    lm: np.ndarray,
    grid: Sequence[ProxySettings] = SETTINGS_GRID,
    folds: int = 5,
    seed: int = 0,
) -> tuple[ProxySettings, list[dict]]:
    """The grid's settings under which the proxy best tells human labels from LM labels on the development
    pairs: the largest cross-validated accuracy (against the human labels) of heads trained on human labels
    minus that of heads trained on the LM's, ties to the larger human-label accuracy.

    Why this criterion: the proxy is the instrument that measures label mixes, and the experiment asks
    whether one mix of human and LM labels beats another; settings that learn the same from both sources
    (strong regularisation on a small development set wins on accuracy alone, and then every mix scores
    alike) cannot show it. ``features_for(settings)`` gives the development pairs' features.
    """
    human, lm = np.asarray(human), np.asarray(lm)
    fold = np.random.default_rng([seed, 11]).permutation(len(human)) % folds
    test = np.stack([fold == f for f in range(folds)])
    tried = []
    for settings in grid:
        feats = features_for(settings)
        labels = np.stack([np.where(fold != f, source, 0) for source in (human, lm) for f in range(folds)])
        W = fit_heads(feats.diffs, labels, settings, feats.scale())
        acc = heldout_accuracy(W @ feats.diffs.T, human, np.concatenate([test, test]))
        human_acc, lm_acc = float(acc[:folds].mean()), float(acc[folds:].mean())
        tried.append({"settings": settings, "human": human_acc, "lm": lm_acc, "gap": human_acc - lm_acc})
    best = max(tried, key=lambda t: (round(t["gap"], 6), t["human"]))
    return best["settings"], tried


def _bench_part(bench: BenchFeatures, mask: np.ndarray) -> BenchFeatures:
    names = [bench.layout.subsets[i] for i in bench.layout.subset_index[mask]]
    layout = BenchLayout.from_triples(names, [bench.layout.categories[n] for n in names])
    return BenchFeatures(bench.phi_chosen[mask], bench.phi_rejected[mask], layout)


def split_bench(bench: BenchFeatures, seed: int) -> tuple[BenchFeatures, BenchFeatures]:
    """Dev / test halves of an evaluation set, stratified by subset."""
    rng = np.random.default_rng(seed)
    dev = np.zeros(len(bench.layout.subset_index), bool)
    for s in range(len(bench.layout.subsets)):
        idx = rng.permutation(np.flatnonzero(bench.layout.subset_index == s))
        dev[idx[: len(idx) // 2]] = True
    return _bench_part(bench, dev), _bench_part(bench, ~dev)


def _fold_scorer(
    folds: int, rng: np.random.Generator, test_pool: RoutingPool | None, bench: BenchFeatures | None
):
    """W (H, d) -> (H, folds) scores of each head on disjoint folds of the test pairs (or triples)."""
    if test_pool is not None:
        fold = diagnostics.balanced_folds(len(test_pool.human), folds, rng)

        def heldout(W: np.ndarray) -> np.ndarray:
            gaps = W @ test_pool.features.diffs.T
            return np.stack(
                [
                    heldout_accuracy(gaps, test_pool.human, np.tile(fold == f, (len(W), 1)))
                    for f in range(folds)
                ],
                axis=1,
            )

        return heldout
    smallest = int(np.bincount(bench.layout.subset_index).min())
    k = max(2, min(folds, smallest))  # every subset in every fold
    fold = diagnostics.stratified_folds(bench.layout.subset_index, k, rng)
    parts = [_bench_part(bench, fold == f) for f in range(k)]
    return lambda W: np.stack([p.score(W)["overall"] for p in parts], axis=1)


Mix = tuple[str, str, float | None, np.ndarray | None, float | None]  # method, strategy, budget, mask, pred


def run_experiment(
    pool: RoutingPool, bench: BenchFeatures | None, config: ExperimentConfig, progress: Progress = None
) -> list[dict]:
    """Rows: {seed, objective, method, strategy, budget, score, human_share, predicted}."""
    unknown = sorted(set(config.strategies) - set(STRATEGIES))
    if unknown:
        raise ValueError(f"strategies: {unknown} unknown; expected some of {STRATEGIES}")
    rows: list[dict] = []
    for i, seed in enumerate(config.seeds):
        rows += _one_seed(pool, bench, config, seed)
        if progress:
            progress(i + 1, len(config.seeds), f"seed {seed} done")
    return rows


def _one_seed(
    pool: RoutingPool, bench: BenchFeatures | None, config: ExperimentConfig, seed: int
) -> list[dict]:
    """Split the pool into R and T, run the PPM loop inside R, train every mix on R, score it on T."""
    n = len(pool.human)
    rng = np.random.default_rng(10_000 + seed)
    perm = rng.permutation(n)
    n_test = round(n * config.test_fraction)
    test_rows, r_rows = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    inner = pool.subset(r_rows)
    targets: list = [HeldoutTarget.make(len(r_rows), config.inner_splits, config.test_fraction, seed)]
    bench_test = None
    if bench is not None:
        bench_dev, bench_test = split_bench(bench, seed)
        targets.append(BenchTarget(bench_dev))
    loop = run_loop(inner, targets, config.k, seed, config.settings, (config.ppm_kind,), config.ppm_kind)
    paper = paper_builder(inner.builder) if config.paper_router else None
    rows: list[dict] = []
    for target in targets:
        ppm = loop.ppms[target.name]
        paper_ppm = _paper_ppm(loop, paper, target.name, config, seed) if paper is not None else None
        mixes = _mixes(inner, ppm, paper, paper_ppm, config, rng)
        mix_heads = fit_heads(
            inner.features.diffs, _mix_labels(inner, mixes, rng), config.settings, inner.features.scale()
        )
        test_pool = pool.subset(test_rows) if target.name == "heldout" else None
        scores = _score_heads(mix_heads, test_pool, bench_test)
        target_rows = [
            {
                "seed": seed,
                "objective": target.name,
                "method": method,
                "strategy": strategy,
                "budget": b,
                "score": float(score),
                "predicted": pred,
                "human_share": float(m.mean()) if m is not None else None,
            }
            for (method, strategy, b, m, pred), score in zip(mixes, scores, strict=True)
        ]
        if config.probe_k > 0:
            probe = _probe(
                inner, ppm, loop, target.name, mixes, mix_heads, seed, config, test_pool, bench_test
            )
            for row, extra in zip(target_rows, probe[: len(target_rows)], strict=True):
                row.update(extra)
            target_rows += probe[len(target_rows) :]
        rows += target_rows
    return rows


def paper_builder(builder: FeatureBuilder) -> FeatureBuilder | None:
    """The same pool's builder without the uncertainty tags (None when it has none to drop)."""
    if not builder.mode.uncertainty_tags or builder.table.uncertainty is None:
        return None
    return FeatureBuilder(builder.table, replace(builder.mode, uncertainty_tags=False))


def _paper_ppm(loop, paper: FeatureBuilder, target: str, config: ExperimentConfig, seed: int) -> PPM:
    """A PPM fitted on the loop's very candidates and measurements, seeing only the paper's tags: the two
    routers differ in nothing but the features."""
    X = paper.transform(loop.masks)
    y = loop.scores[target]["score"]
    return PPM(kind=config.ppm_kind, mode=paper.mode.name, random_state=seed).fit(X, y, paper.feature_names)


def _mixes(
    inner: RoutingPool,
    ppm: PPM,
    paper: FeatureBuilder | None,
    paper_ppm: PPM | None,
    config: ExperimentConfig,
    rng: np.random.Generator,
) -> list[Mix]:
    """The label mixes of one seed and objective: the ends, the control, then per budget the random mixes,
    the routed mixes (and the paper-tags router's, and the oracle's, when asked for)."""
    n = len(inner.human)
    mixes: list[Mix] = [
        ("100% human", "", 1.0, np.ones(n, bool), None),
        ("100% LM", "", 0.0, np.zeros(n, bool), None),
        ("random labels", "", None, None, None),
    ]
    for b in config.budgets:
        budget = round(b * n)
        for mask in balanced_uniform_masks(n, budget, max(1, config.random_repeats), rng):
            mixes.append(("random", "", b, mask, None))
        routers = [("routed", ppm, inner.builder)] + ([("routed-paper", paper_ppm, paper)] if paper else [])
        for method, model, builder in routers:
            for strategy in config.strategies:
                options = {"k": config.simulated_k} if strategy == "simulated" else {}
                routed = route(strategy, model, builder, budget, rng, **options)
                mixes.append((method, strategy, b, routed.mask, routed.predicted))
        if config.oracle:
            mixes.append(("oracle", "", b, diagnostics.oracle_mask(inner.human, inner.lm, budget, rng), None))
    return mixes


def _mix_labels(inner: RoutingPool, mixes: list[Mix], rng: np.random.Generator) -> np.ndarray:
    return np.stack(
        [
            inner.labels(m)[0] if m is not None else rng.choice([-1, 1], size=len(inner.human))
            for *_, m, _ in mixes
        ]
    )


def _score_heads(
    heads: np.ndarray, test_pool: RoutingPool | None, bench_test: BenchFeatures | None
) -> np.ndarray:
    """Each proxy head's score on the whole test target (held-out pairs or the benchmark)."""
    if test_pool is not None:
        everyone = np.ones((len(heads), len(test_pool.human)), bool)
        return heldout_accuracy(heads @ test_pool.features.diffs.T, test_pool.human, everyone)
    assert bench_test is not None
    return bench_test.score(heads)["overall"]


def _probe(
    inner: RoutingPool,
    ppm,
    loop,
    objective: str,
    mixes,
    mix_heads,
    seed: int,
    config: ExperimentConfig,
    test_pool: RoutingPool | None,
    bench_test: BenchFeatures | None,
) -> list[dict]:
    """The diagnostics of one (seed, objective): extra fields for each mix's row (in order), then the probe
    rows. Own random stream and own proxy call: the mixes' scores are those of a run without probes."""
    probe_rng = np.random.default_rng([20_000 + seed, 0 if objective == "heldout" else 1])
    fold_score = _fold_scorer(config.noise_folds, probe_rng, test_pool, bench_test)
    probes = _probe_masks(inner, config, probe_rng)
    probe_stack = np.stack([mask for *_, mask in probes])
    probe_heads = fit_heads(
        inner.features.diffs, inner.labels(probe_stack), config.settings, inner.features.scale()
    )
    loop_share = loop.masks.mean(axis=1)
    shared = {
        "ppm_spearman": (getattr(ppm, "metrics_", None) or {}).get("spearman"),
        "share_spearman": diagnostics.spearman(loop_share, loop.scores[objective]["score"]),
    }
    mix_extras = _mix_extras(inner.builder, ppm, mixes, fold_score(mix_heads), probes, config.budgets, shared)
    probe_rows = _probe_rows(
        probes,
        fold_score(probe_heads),
        ppm.predict(inner.builder.transform(probe_stack)),
        _score_heads(probe_heads, test_pool, bench_test),
        {"seed": seed, "objective": objective, **shared},
    )
    return mix_extras + probe_rows


def _probe_masks(inner: RoutingPool, config: ExperimentConfig, rng: np.random.Generator) -> list[tuple]:
    """(budget, kind, mask) for ``probe_k`` same-budget candidates of each kind at every budget."""
    pool_size = len(inner.human)
    probes: list[tuple[float, str, np.ndarray]] = []
    for budget in config.budgets:
        masks, kinds = diagnostics.probe_masks(
            inner.builder.T, round(budget * pool_size), config.probe_k, rng, inner.builder.mode
        )
        probes += [(budget, kind, mask) for kind, mask in zip(kinds, masks, strict=True)]
    return probes


def _mix_extras(builder, ppm, mixes, mix_folds, probes, budgets, shared: dict) -> list[dict]:
    """Per mix: its fold scores, its predicted score and, for routed and random mixes, where its mask lies
    among the uniform probes of its budget (and, for routers, how much it agrees with the other routers)."""
    uniform = {
        budget: np.stack([mask for at, kind, mask in probes if at == budget and kind == diagnostics.UNIFORM])
        for budget in budgets
    }
    routed = {
        budget: [mask for method, _, at, mask, _ in mixes if method == "routed" and at == budget]
        for budget in budgets
    }
    extras = []
    for (method, _, budget, mask, predicted), folds in zip(mixes, mix_folds, strict=True):
        extra = {"fold_scores": folds.tolist(), **shared}
        if mask is not None:
            extra["predicted"] = (
                float(ppm.predict(builder.transform(mask[None, :]))[0]) if predicted is None else predicted
            )
        if method in ("routed", "random"):
            extra["geometry"] = diagnostics.mask_geometry(
                mask,
                uniform[budget],
                builder.counts(mask[None, :])[0],
                builder.counts(uniform[budget]),
                builder.tag_names,
            )
            other_routers = [other for other in routed[budget] if other is not mask]
            if method == "routed" and other_routers:
                extra["geometry"]["overlap_routed"] = float(
                    diagnostics.mask_overlaps(np.stack([mask, *other_routers]))[0]
                )
        extras.append(extra)
    return extras


def _probe_rows(probes, probe_folds, predicted, scores, shared: dict) -> list[dict]:
    """One result row per probe mask."""
    return [
        {
            "method": diagnostics.PROBE,
            "strategy": kind,
            "budget": budget,
            "score": float(score),
            "predicted": float(prediction),
            "human_share": float(mask.mean()),
            "fold_scores": folds.tolist(),
            **shared,
        }
        for (budget, kind, mask), folds, prediction, score in zip(
            probes, probe_folds, predicted, scores, strict=True
        )
    ]


PAIRED = ("routed", "routed-paper", "oracle")  # methods compared with the random mixes of their budget


def random_reference(rows: list[dict]) -> dict[tuple, float]:
    """(objective, budget, seed) -> mean score of that seed's random mixes of that budget."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r["method"] == "random":
            groups.setdefault((r["objective"], r["budget"], r["seed"]), []).append(r["score"])
    return {key: float(np.mean(v)) for key, v in groups.items()}


def summarise(rows: list[dict]) -> list[dict]:
    """Mean, standard deviation and count over seeds per (objective, method, strategy, budget); for routed
    (and oracle) rows the paired difference against the random mixes of the same budget and seed, with
    its standard error over seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["method"] == diagnostics.PROBE:  # diagnostics rows: routing.diagnostics.diagnose
            continue
        groups.setdefault((r["objective"], r["method"], r["strategy"], r["budget"]), []).append(r)
    random_of = random_reference(rows)
    out = []
    for (objective, method, strategy, budget), rs in groups.items():
        scores = np.array([r["score"] for r in rs])
        entry = {
            "objective": objective,
            "method": method,
            "strategy": strategy,
            "budget": budget,
            "mean": float(scores.mean()),
            "std": float(scores.std(ddof=1)) if len(rs) > 1 else 0.0,
            "n": len(rs),
        }
        if method in PAIRED:
            d = np.array([r["score"] - random_of[(objective, budget, r["seed"])] for r in rs])
            entry["vs_random_mean"] = float(d.mean())
            entry["vs_random_std"] = float(d.std(ddof=1)) if len(d) > 1 else 0.0
            entry["vs_random_se"] = entry["vs_random_std"] / math.sqrt(len(d)) if len(d) > 1 else math.nan
        out.append(entry)
    return out


def _vs(s: dict) -> str:
    if "vs_random_mean" not in s:
        return ""
    se = s["vs_random_se"]
    z = s["vs_random_mean"] / se if se and math.isfinite(se) and se > 0 else math.nan
    return (
        f"{s['vs_random_mean']:+.3f} +- {se:.3f} ({z:.1f} SE)"
        if math.isfinite(z)
        else f"{s['vs_random_mean']:+.3f}"
    )


def format_table(summary: list[dict]) -> str:
    lines = []
    for objective in sorted({s["objective"] for s in summary}):
        lines.append(
            f"objective: {objective}   (score: mean +- sd over seeds; vs random: paired mean +- standard error)"
        )
        lines.append(f"{'method':<28}{'budget':>8}{'score':>18}{'vs random':>28}")
        for s in sorted(
            (s for s in summary if s["objective"] == objective),
            key=lambda s: (
                s["method"] not in ("100% human", "100% LM", "random labels"),
                -1 if s["budget"] is None else s["budget"],
                s["method"],
                s["strategy"],
            ),
        ):
            name = s["method"] + (f" ({s['strategy']})" if s["strategy"] else "")
            budget = "" if s["budget"] is None else f"{s['budget']:.0%}"
            lines.append(f"{name:<28}{budget:>8}{s['mean']:>10.3f} +- {s['std']:.3f}{_vs(s):>28}")
        lines.append("")
    return "\n".join(lines)


def paired_line(
    summary: list[dict], strategy: str, method: str = "routed", objective: str = "heldout"
) -> str:
    """``routed-vs-random: 25% +0.031 +- 0.006 (5.2 SE); 50% ...``: the headline of the experiment."""
    cells = sorted(
        (
            s
            for s in summary
            if s["method"] == method and s["strategy"] == strategy and s["objective"] == objective
        ),
        key=lambda s: s["budget"],
    )
    parts = []
    for s in cells:
        se = s.get("vs_random_se", math.nan)
        z = s["vs_random_mean"] / se if math.isfinite(se) and se > 0 else math.nan
        parts.append(f"{s['budget']:.0%} {s['vs_random_mean']:+.3f} +- {se:.3f} ({z:.1f} SE)")
    return "routed-vs-random: " + "; ".join(parts)


def plot(summary: list[dict], path: str) -> None:
    """Figure-4-like plot: score vs human share, random and routed lines, 100% human / LM and control."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objectives = sorted({s["objective"] for s in summary})
    fig, axes = plt.subplots(1, len(objectives), figsize=(6 * len(objectives), 4.2), squeeze=False)
    for ax, objective in zip(axes[0], objectives, strict=True):
        rows = [s for s in summary if s["objective"] == objective]
        get = {(s["method"], s["strategy"], s["budget"]): s for s in rows}
        ends = [get[("100% LM", "", 0.0)], get[("100% human", "", 1.0)]]
        for label, method, strategy in [("random", "random", "")] + [
            (f"routed ({st})", "routed", st)
            for st in sorted({s["strategy"] for s in rows if s["method"] == "routed"})
        ]:
            pts = sorted(
                [s for s in rows if s["method"] == method and s["strategy"] == strategy],
                key=lambda s: s["budget"],
            )
            pts = [ends[0], *pts, ends[1]]
            ax.errorbar(
                [p["budget"] * 100 for p in pts],
                [p["mean"] for p in pts],
                yerr=[p["std"] for p in pts],
                marker="o",
                capsize=3,
                label=label,
            )
        control = get[("random labels", "", None)]
        ax.axhline(control["mean"], color="grey", ls="--", label="random-label control")
        ax.set_xlabel("% routed to humans")
        ax.set_ylabel("accuracy" if objective == "heldout" else "RewardBench-style overall")
        ax.set_title(f"proxy RM, objective: {objective}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
