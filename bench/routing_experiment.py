"""Routing experiment and PPM-loop timing on a JSONL instance file, no database (docs/METHOD.md, Target to Proxy loop).

    .venv/bin/python bench/routing_experiment.py --instances ../shared/data/pandalm/pandalm.jsonl \
        --bench ../shared/data/rm-eval/rm-eval.jsonl --lm-judge gpt-3.5-turbo --seeds 0 1 2 3 4 --out var/bench

Tags are the routing core's: the 9 textual tags (routing.textual, computed once per file content and tag
version and cached under --tag-cache) binned by routing.binning into 27 features, the 63 descriptive
features (all zero: a plain instance file has no LM-tagger records), and the file's ``category`` as extra
columns (--min-category; 0 turns them off). Pool rule, candidates, PPM and strategies: routing core.

Prints (1) the calibration of the proxy on 20 random 600/249-style splits (human, LM, random labels) and on
the RewardBench-style file, (2) the PPM loop with K candidates on the whole pool for both targets, timed,
with held-out Spearman / RMSE beside the paper's Table 2, (3) the routing experiment table with spreads and
the random-label control, (4) the diagnosis of why routed and random mixes of one budget do or do not
differ (routing.training.diagnostics: within-budget signal vs noise, the PPM's within-budget Spearman,
routed-vs-random mask geometry and predicted vs measured gain; --probe-k 0 turns it off), and writes results
JSON (the diagnosis under experiment.diagnosis), a PNG and an SVG to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

import platform_compat  # noqa: E402,F401
from models.reward.data import load_instances, load_triples  # noqa: E402
from models.reward.embedding_cache import EmbeddingCache  # noqa: E402
from models.reward.evaluation import heldout_accuracy, random_splits  # noqa: E402
from models.reward.features import BenchFeatures  # noqa: E402
from models.reward.proxy import ProxySettings, fit_heads  # noqa: E402
from routing.descriptive import DESCRIPTIVE_FEATURES  # noqa: E402
from routing.training.diagnostics import diagnose, format_diagnosis  # noqa: E402
from routing.training.experiment import ExperimentConfig, format_table, plot, run_experiment, summarise  # noqa: E402
from routing.training.loop import BenchTarget, HeldoutTarget, pool_from_instances, run_loop  # noqa: E402
from routing.training.tags import file_digest, instance_tag_table  # noqa: E402


def calibration(pool, bench, settings: ProxySettings, n_splits: int = 20, seed: int = 0) -> dict:
    """Proxy on repeated random splits (test share 249/849), human vs LM vs random labels; rm-eval on all."""
    n = len(pool.human)
    splits = random_splits(n, round(n * 249 / 849), n_splits, seed)
    rng = np.random.default_rng(seed)
    out = {}
    sources = {"human": pool.human, "lm": pool.lm, "random": rng.choice([-1, 1], size=n)}
    for name, labels in sources.items():
        acc = np.zeros(n_splits)
        for s, (tr, te) in enumerate(splits):
            Y = np.zeros((1, n))
            Y[0, tr] = labels[tr]
            test = np.zeros((1, n), bool)
            test[0, te] = True
            # standardisation fitted on this split's training pairs only
            W = fit_heads(pool.features.diffs, Y, settings, pool.features.scale(tr))
            acc[s] = heldout_accuracy(W @ pool.features.diffs.T, pool.human, test)[0]
        out[name] = {"heldout_mean": float(acc.mean()), "heldout_std": float(acc.std(ddof=1))}
        if bench is not None:
            full = fit_heads(
                pool.features.diffs, labels[None, :].astype(float), settings, pool.features.scale()
            )
            sc = bench.score(full)
            out[name]["bench_overall"] = float(sc["overall"][0])
            out[name]["bench_categories"] = {k: float(v[0]) for k, v in sc["categories"].items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", required=True)
    ap.add_argument("--bench", default=None, help="RewardBench-style triples (optional)")
    ap.add_argument("--lm-judge", default="gpt-3.5-turbo")
    ap.add_argument("--cache", default="var/embeddings")
    ap.add_argument("--tag-cache", default="var/cache/tags", help="raw textual tag values, by file hash")
    ap.add_argument("--min-category", type=int, default=15, help="category tag columns (0: none)")
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    ap.add_argument("--probe-k", type=int, default=24, help="same-budget candidates per budget (diagnosis)")
    ap.add_argument("--noise-folds", type=int, default=5, help="disjoint test folds measuring score noise")
    ap.add_argument("--out", default="var/bench")
    ap.add_argument("--skip-experiment", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = ProxySettings()
    cache = EmbeddingCache(args.cache)

    t0 = time.perf_counter()
    instances = load_instances(args.instances)
    table = instance_tag_table(
        instances,
        args.tag_cache,
        file_digest(args.instances),
        categories=args.min_category > 0,
        min_category=max(args.min_category, 1),
    )
    t_tags = time.perf_counter() - t0
    pool, kept = pool_from_instances(instances, args.lm_judge, cache, table, settings)
    bench = BenchFeatures.build(load_triples(args.bench), cache, settings) if args.bench else None
    t_embed = time.perf_counter() - t0
    n_desc = len(DESCRIPTIVE_FEATURES)
    n_extra = len(table.descriptive_names) - n_desc
    print(
        f"pool: {len(kept)} of {len(instances)} pairs (ties under either source dropped, routing.pool); "
        f"{pool.tags.shape[1]} tag features = 27 textual bins + {n_desc} descriptive (all zero: no tagger records) "
        f"+ {n_extra} category; tags {t_tags:.1f}s (cache: {args.tag_cache}), all features ready in "
        f"{t_embed:.1f}s (embedding cache: {args.cache})"
    )
    print(f"proxy settings: {settings}")

    cal = calibration(pool, bench, settings)
    print("\ncalibration (20 random splits, test 249/849, human-majority gold):")
    for name, c in cal.items():
        extra = f"   rm-eval overall {c['bench_overall']:.3f}" if "bench_overall" in c else ""
        print(f"  {name:<7} labels: held-out {c['heldout_mean']:.3f} +- {c['heldout_std']:.3f}{extra}")

    targets: list = [HeldoutTarget.make(len(kept), 5, 0.3, 0)]
    if bench is not None:
        targets.append(BenchTarget(bench))
    t1 = time.perf_counter()
    loop = run_loop(pool, targets, k=args.k, seed=0)
    t_loop = time.perf_counter() - t1
    print(
        f"\nPPM loop: {args.k} candidates, targets {[t.name for t in targets]}: {t_loop:.1f}s "
        f"(+ {t_embed:.1f}s features) {json.dumps({k: round(v, 2) for k, v in loop.timings.items()})}"
    )
    for target, metrics in loop.ppm_metrics.items():
        for m in metrics:
            print(
                f"  {target:<8} {m['kind']:<10} Spearman {m['spearman']:.3f} RMSE(x100) {m['rmse_x100']:.3f} "
                f"[target sd {m['target_std_x100']:.3f}]   paper Table 2: {m['paper_spearman']} / {m['paper_rmse_x100']}"
            )

    result = {
        "calibration": cal,
        "loop": {
            "timings": loop.timings,
            "features_s": t_embed,
            "tags_s": t_tags,
            "feature_names": loop.feature_names,
            "ppm_metrics": loop.ppm_metrics,
            "rows": loop.rows(),
        },
        "settings": settings.__dict__,
    }
    if not args.skip_experiment:
        config = ExperimentConfig(
            budgets=args.budgets,
            seeds=args.seeds,
            k=args.k,
            settings=settings,
            probe_k=args.probe_k,
            noise_folds=args.noise_folds,
        )
        t2 = time.perf_counter()
        rows = run_experiment(
            pool, bench, config, progress=lambda d, n, m: print(f"  [{d}/{n}] {m}", flush=True)
        )
        summary = summarise(rows)
        print(f"\nrouting experiment ({len(args.seeds)} seeds, {time.perf_counter() - t2:.0f}s):\n")
        print(format_table(summary))
        plot(summary, str(out / "routing_experiment.png"))
        plot(summary, str(out / "routing_experiment.svg"))
        result["experiment"] = {"rows": rows, "summary": summary}
        print(f"plots: {out / 'routing_experiment.png'}, {out / 'routing_experiment.svg'}")
        if args.probe_k > 0:
            diagnosis = diagnose(rows)
            result["experiment"]["diagnosis"] = diagnosis
            print("\n" + format_diagnosis(diagnosis))
    (out / "routing_experiment.json").write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
