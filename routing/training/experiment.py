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
(``routing.training.diagnostics``): per budget, ``probe_k`` extra same-budget candidates (rows with method
``"probe"``, trained by the same proxy in a separate call so the mixes' numbers are unchanged, drawn from a
separate random stream), every head scored on ``noise_folds`` disjoint folds of the test pairs
(``fold_scores``), the PPM's prediction for every mask (``predicted``), the routed masks' geometry against
the uniform probes (``geometry``), and the loop's held-out PPM Spearman and the human share's Spearman on the
loop's candidates (``ppm_spearman``, ``share_spearman``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.reward.evaluation import BenchLayout, heldout_accuracy
from models.reward.features import BenchFeatures
from models.reward.proxy import ProxySettings, fit_heads
from routing.strategies import route
from routing.training import diagnostics
from routing.training.loop import BenchTarget, HeldoutTarget, Pool, run_loop

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
    simulated_k: int = 2000
    settings: ProxySettings = ProxySettings()
    probe_k: int = 0  # same-budget candidates per budget for routing.training.diagnostics; 0 = off
    noise_folds: int = 5  # disjoint test folds that measure score noise (with probe_k)


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


def _fold_scorer(folds: int, rng: np.random.Generator, test_pool: Pool | None, bench: BenchFeatures | None):
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


def run_experiment(
    pool: Pool, bench: BenchFeatures | None, config: ExperimentConfig, progress: Progress = None
) -> list[dict]:
    """Rows: {seed, objective, method, strategy, budget, score, human_share, predicted}."""
    unknown = sorted(set(config.strategies) - set(STRATEGIES))
    if unknown:
        raise ValueError(f"strategies: {unknown} unknown; expected some of {STRATEGIES}")
    rows: list[dict] = []
    n = len(pool.human)
    for i, seed in enumerate(config.seeds):
        rng = np.random.default_rng(10_000 + seed)
        perm = rng.permutation(n)
        n_test = round(n * config.test_fraction)
        test_rows, r_rows = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        inner = pool.subset(r_rows)
        targets: list = [HeldoutTarget.make(len(r_rows), config.inner_splits, config.test_fraction, seed)]
        bench_dev = bench_test = None
        if bench is not None:
            bench_dev, bench_test = split_bench(bench, seed)
            targets.append(BenchTarget(bench_dev))
        loop = run_loop(
            inner,
            targets,
            config.k,
            seed,
            config.settings,
            ppm_kinds=(config.ppm_kind,),
            final_kind=config.ppm_kind,
        )
        scale = inner.features.scale()
        for target in targets:
            ppm = loop.ppms[target.name]
            mixes: list[tuple[str, str, float | None, np.ndarray | None, float | None]] = [
                ("100% human", "", 1.0, np.ones(len(r_rows), bool), None),
                ("100% LM", "", 0.0, np.zeros(len(r_rows), bool), None),
                ("random labels", "", None, None, None),
            ]
            for b in config.budgets:
                budget = round(b * len(r_rows))
                mask = np.zeros(len(r_rows), bool)
                mask[rng.permutation(len(r_rows))[:budget]] = True
                mixes.append(("random", "", b, mask, None))
                for strategy in config.strategies:
                    options = {"k": config.simulated_k} if strategy == "simulated" else {}
                    routed = route(strategy, ppm, inner.builder, budget, rng, **options)
                    mixes.append(("routed", strategy, b, routed.mask, routed.predicted))
            labels = np.stack(
                [
                    inner.labels(m)[0] if m is not None else rng.choice([-1, 1], size=len(r_rows))
                    for *_, m, _ in mixes
                ]
            )
            W = fit_heads(inner.features.diffs, labels, config.settings, scale)
            if target.name == "heldout":
                test_pool = pool.subset(test_rows)
                mask = np.ones((len(mixes), len(test_rows)), bool)
                scores = heldout_accuracy(W @ test_pool.features.diffs.T, test_pool.human, mask)
            else:
                scores = bench_test.score(W)["overall"]
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
                test_pool = pool.subset(test_rows) if target.name == "heldout" else None
                probe = _probe(inner, ppm, loop, target.name, mixes, W, seed, config, test_pool, bench_test)
                for row, extra in zip(target_rows, probe[: len(target_rows)], strict=True):
                    row.update(extra)
                target_rows += probe[len(target_rows) :]
            rows += target_rows
        if progress:
            progress(i + 1, len(config.seeds), f"seed {seed} done")
    return rows


def _probe(inner: Pool, ppm, loop, objective: str, mixes, W, seed: int, config: ExperimentConfig,
           test_pool: Pool | None, bench_test: BenchFeatures | None) -> list[dict]:  # fmt: skip
    """The diagnostics of one (seed, objective): extra fields for each mix's row (in order), then the probe
    rows. Own random stream and own proxy call: the mixes' scores are those of a run without probes."""
    drng = np.random.default_rng([20_000 + seed, 0 if objective == "heldout" else 1])
    fold_score = _fold_scorer(config.noise_folds, drng, test_pool, bench_test)
    builder = inner.builder
    n = len(inner.human)
    probes: list[tuple[float, str, np.ndarray]] = []
    for b in config.budgets:
        masks, kinds = diagnostics.probe_masks(builder.T, round(b * n), config.probe_k, drng, builder.mode)
        probes += [(b, kind, m) for kind, m in zip(kinds, masks, strict=True)]
    P = np.stack([m for *_, m in probes])
    Wp = fit_heads(inner.features.diffs, inner.labels(P), config.settings, inner.features.scale())
    folds_mix, folds_probe = fold_score(W), fold_score(Wp)
    pred_probe = ppm.predict(builder.transform(P))
    full_probe = (
        heldout_accuracy(Wp @ test_pool.features.diffs.T, test_pool.human, np.ones((len(P), len(test_pool.human)), bool))
        if test_pool is not None
        else bench_test.score(Wp)["overall"]
    )  # fmt: skip
    loop_share = loop.masks.mean(axis=1)
    meta = {
        "ppm_spearman": (getattr(ppm, "metrics_", None) or {}).get("spearman"),
        "share_spearman": diagnostics.spearman(loop_share, loop.scores[objective]["score"]),
    }
    uniform = {
        b: np.stack([m for bb, k, m in probes if bb == b and k == diagnostics.UNIFORM])
        for b in config.budgets
    }
    routed = {
        b: [m for method, _, bb, m, _ in mixes if method == "routed" and bb == b] for b in config.budgets
    }
    extras = []
    for (method, _, b, m, pred), folds in zip(mixes, folds_mix, strict=True):
        extra = {"fold_scores": folds.tolist(), **meta}
        if m is not None:
            extra["predicted"] = (
                float(ppm.predict(builder.transform(m[None, :]))[0]) if pred is None else pred
            )
        if method in ("routed", "random"):
            extra["geometry"] = diagnostics.mask_geometry(
                m, uniform[b], builder.counts(m[None, :])[0], builder.counts(uniform[b]), builder.tag_names
            )
            others = [r for r in routed[b] if r is not m]
            if method == "routed" and others:  # how much this router agrees with the other routers
                extra["geometry"]["overlap_routed"] = float(
                    diagnostics.mask_overlaps(np.stack([m, *others]))[0]
                )
        extras.append(extra)
    for (b, kind, m), folds, pred, score in zip(probes, folds_probe, pred_probe, full_probe, strict=True):
        extras.append(
            {
                "seed": seed,
                "objective": objective,
                "method": diagnostics.PROBE,
                "strategy": kind,
                "budget": b,
                "score": float(score),
                "predicted": float(pred),
                "human_share": float(m.mean()),
                "fold_scores": folds.tolist(),
                **meta,
            }
        )
    return extras


def summarise(rows: list[dict]) -> list[dict]:
    """Mean, standard deviation and count over seeds per (objective, method, strategy, budget); paired
    difference against the random mix of the same budget and seed for routed rows."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["method"] == diagnostics.PROBE:  # diagnostics rows: routing.training.diagnostics.diagnose
            continue
        groups.setdefault((r["objective"], r["method"], r["strategy"], r["budget"]), []).append(r)
    random_of = {
        (r["objective"], r["budget"], r["seed"]): r["score"] for r in rows if r["method"] == "random"
    }
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
        if method == "routed":
            d = np.array([r["score"] - random_of[(objective, budget, r["seed"])] for r in rs])
            entry["vs_random_mean"] = float(d.mean())
            entry["vs_random_std"] = float(d.std(ddof=1)) if len(d) > 1 else 0.0
        out.append(entry)
    return out


def format_table(summary: list[dict]) -> str:
    lines = []
    for objective in sorted({s["objective"] for s in summary}):
        lines.append(
            f"objective: {objective}   (mean +- std over seeds; routed: paired difference vs random)"
        )
        lines.append(f"{'method':<22}{'budget':>8}{'score':>18}{'vs random':>20}")
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
            vs = f"{s['vs_random_mean']:+.3f} +- {s['vs_random_std']:.3f}" if "vs_random_mean" in s else ""
            lines.append(f"{name:<22}{budget:>8}{s['mean']:>10.3f} +- {s['std']:.3f}{vs:>20}")
        lines.append("")
    return "\n".join(lines)


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
