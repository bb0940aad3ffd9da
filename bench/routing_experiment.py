"""Does routing beat a random mix of the same budget? The routing experiment on a JSONL instance file.

    .venv/bin/python bench/routing_experiment.py --instances ../shared/data/pandalm/pandalm.jsonl \
        --lm-judge gpt-3.5-turbo --seeds 150 --first-seed 300 --out var/bench

No database. Tags are the routing core's: the 9 textual tags (computed once per file content and tag version,
cached under --tag-cache) binned into 27 features, the 63 descriptive features (all zero: a plain file has no
LM-tagger records), the file's ``category`` columns when --min-category > 0 (off by default: on seeds 1000+
they drew the PPM's largest coefficients to small categories), and the LM-uncertainty tags
(``routing.uncertainty``) read from the file's ``lm_labels`` only: whether the other judges agree with
--lm-judge. The defaults (--k 240, --min-category 0, --random-repeats 16) are the configuration chosen on
seeds 1000+ before the 150 fresh seeds from 300 ran (docs/ROUTING.md, Numbers on PandaLM).

Steps, each printed as it happens (output is flushed; caches report progress while they fill):
1. the pool (ties under either source dropped), then a fixed development share of it (--dev-fraction) that
   chooses the proxy's settings by cross-validation and never enters a routing pool or a test split;
2. per seed (>= 20 for the headline): split the rest into a routing pool R and test pairs T; run the PPM loop
   inside R; fit two PPMs on the loop's candidates, one seeing the uncertainty tags and one only the paper's
   tags; train a proxy reward model on R for every label mix (100% human / LM, random labels, --random-repeats
   balanced random mixes per budget, each router's routed mixes per strategy, and the oracle that sends
   human-vs-LM disagreements to people first) and score it on T against the human majority;
3. the table (score mean +- sd; routed minus random as paired mean +- standard error), the oracle's headroom,
   the cross-validated AUC with which the tag matrix predicts human-vs-LM disagreement (paper tags alone and
   with the uncertainty tags);
4. last line: ``routed-vs-random: 25% +0.031 +- 0.006 (5.2 SE); 50% ...; 75% ...`` for the router with the
   uncertainty tags and --strategy.
Results JSON, a PNG and an SVG go to --out.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

# One thread per library unless told otherwise: on a shared machine, BLAS and torch threads spinning against
# other processes made the proxy's L-BFGS ten times slower (8 s vs 81 s for 120 heads, measured here).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("HYBRIDPREF_BENCH_THREADS", "1"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import platform_compat  # noqa: E402,F401
from models.reward.data import load_instances, load_triples  # noqa: E402
from models.reward.embedding_cache import EmbeddingCache  # noqa: E402
from models.reward.features import BenchFeatures, PairFeatures  # noqa: E402
from routing import diagnostics  # noqa: E402
from routing.experiment import (  # noqa: E402
    STRATEGIES,
    ExperimentConfig,
    choose_proxy_settings,
    development_split,
    format_table,
    paired_line,
    paper_builder,
    plot,
    run_experiment,
    summarise,
)
from routing.pool import either_source_pool  # noqa: E402
from routing.ppm_loop import pool_from_instances  # noqa: E402
from routing.tag_cache import file_digest, instance_tag_table  # noqa: E402

say = functools.partial(print, flush=True)


def progress_printer(what: str):
    """A (done, total) callback printing at most about ten lines per cache fill."""
    state = {"last": -1}

    def report(done: int, total: int) -> None:
        step = max(1, total // 10)
        if done == total or done // step != state["last"]:
            state["last"] = done // step
            say(f"  {what}: {done}/{total}")

    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", required=True)
    ap.add_argument("--bench", default=None, help="RewardBench-style triples: a second objective (optional)")
    ap.add_argument("--lm-judge", default="gpt-3.5-turbo", help="the LM label; other judges only inform tags")
    ap.add_argument("--cache", default="var/embeddings")
    ap.add_argument("--tag-cache", default="var/cache/tags", help="raw textual tag values, by file hash")
    ap.add_argument(
        "--min-category",
        type=int,
        default=0,
        help="a column per category with at least this many pairs (0: none; chosen on seeds 1000+, see docs)",
    )
    ap.add_argument("--dev-fraction", type=float, default=0.15, help="pairs that only choose proxy settings")
    ap.add_argument("--k", type=int, default=240, help="PPM-loop candidates per seed")
    ap.add_argument("--inner-splits", type=int, default=3)
    ap.add_argument("--ppm-kind", default="linear", choices=("linear", "quadratic", "lightgbm"))
    ap.add_argument("--seeds", type=int, default=24, help="number of paired seeds")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    ap.add_argument(
        "--strategy",
        default="simulated",
        choices=STRATEGIES,
        help="the headline's strategy: what route runs by default",
    )
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument(
        "--random-repeats", type=int, default=16, help="random mixes per budget and seed (balanced: see docs)"
    )
    ap.add_argument(
        "--probe-k", type=int, default=0, help="same-budget candidates per budget (noise diagnosis)"
    )
    ap.add_argument("--out", default="var/bench")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.strategy not in args.strategies:
        raise SystemExit(f"--strategy {args.strategy!r} must be one of --strategies {args.strategies}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache)
    t0 = time.perf_counter()

    instances = load_instances(args.instances)
    say(
        f"{len(instances)} pairs read from {args.instances}; textual tags (cached under {args.tag_cache}; a cold "
        "cache takes about a minute per thousand pairs)..."
    )
    table = instance_tag_table(
        instances,
        args.tag_cache,
        file_digest(args.instances),
        categories=args.min_category > 0,
        min_category=max(args.min_category, 1),
        primary_judge=args.lm_judge,
        progress=progress_printer("textual tags"),
    )
    say(f"tags ready in {time.perf_counter() - t0:.0f}s; uncertainty tags: {table.uncertainty.summary()}")

    rows = either_source_pool([i.human for i in instances], [i.lm.get(args.lm_judge) for i in instances])
    dev_idx, main_idx = development_split(len(rows), args.dev_fraction)
    dev = [instances[r] for r in rows[dev_idx]]
    say(
        f"pool: {len(rows)} of {len(instances)} pairs (ties under either source dropped); {len(dev)} set aside to "
        f"choose the proxy settings (embeddings cached under {args.cache})..."
    )
    human_dev = np.array([i.human for i in dev])
    lm_dev = np.array([i.lm[args.lm_judge] for i in dev])
    embed_progress = progress_printer("embeddings")
    settings, tried = choose_proxy_settings(
        lambda s: PairFeatures.build(dev, cache, s, progress=embed_progress), human_dev, lm_dev
    )
    for t in tried:
        say(
            f"  {t['settings'].features:<12} l2={t['settings'].l2:<6g} development CV accuracy: human labels "
            f"{t['human']:.3f}, LM labels {t['lm']:.3f}, gap {t['gap']:+.3f}"
        )
    say(f"proxy settings (largest human-minus-LM gap on the development pairs only): {settings}")

    keep = rows[main_idx]
    main_instances = [instances[r] for r in keep]
    pool, kept = pool_from_instances(main_instances, args.lm_judge, cache, table.subset(keep), settings)
    bench = BenchFeatures.build(load_triples(args.bench), cache, settings) if args.bench else None
    full_T = pool.builder.T
    paper = paper_builder(pool.builder)
    aucs = {
        "the paper's tags": diagnostics.disagreement_auc(paper.T if paper else full_T, pool.human, pool.lm),
        "the paper's + uncertainty tags": diagnostics.disagreement_auc(full_T, pool.human, pool.lm),
    }
    wrong = np.sign(pool.human) != np.sign(pool.lm)
    say(
        f"experiment pool: {len(kept)} pairs, {full_T.shape[1]} tag columns; the LM label is wrong on "
        f"{wrong.mean():.1%}; features ready at {time.perf_counter() - t0:.0f}s"
    )

    config = ExperimentConfig(
        budgets=args.budgets,
        strategies=args.strategies,
        seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
        k=args.k,
        inner_splits=args.inner_splits,
        ppm_kind=args.ppm_kind,
        settings=settings,
        random_repeats=args.random_repeats,
        paper_router=True,
        oracle=True,
        probe_k=args.probe_k,
    )
    t1 = time.perf_counter()
    say(
        f"routing experiment: {args.seeds} paired seeds, K={args.k} loop candidates each, {args.ppm_kind} PPM..."
    )
    rows_out = run_experiment(
        pool,
        bench,
        config,
        progress=lambda d, n, m: say(f"  [{d}/{n}] {m} ({time.perf_counter() - t1:.0f}s)"),
    )
    summary = summarise(rows_out)
    say(
        f"\nrouting experiment ({args.seeds} seeds, {time.perf_counter() - t1:.0f}s; 'routed' sees the "
        "uncertainty tags, 'routed-paper' only the paper's):\n"
    )
    say(format_table(summary))
    say(diagnostics.format_headroom(diagnostics.headroom(summary), aucs))
    result = {
        "settings": settings.__dict__,
        "settings_tried": [{**t, "settings": t["settings"].__dict__} for t in tried],
        "aucs": aucs,
        "rows": rows_out,
        "summary": summary,
    }
    if args.probe_k > 0:
        diagnosis = diagnostics.diagnose(rows_out)
        result["diagnosis"] = diagnosis
        say("\n" + diagnostics.format_diagnosis(diagnosis))
    plot(summary, str(out / "routing_experiment.png"))
    plot(summary, str(out / "routing_experiment.svg"))
    (out / "routing_experiment.json").write_text(json.dumps(result, indent=1, default=float))
    say(f"results: {out / 'routing_experiment.json'}, plots: {out / 'routing_experiment.png'}")
    say(f"paper tags only: {paired_line(summary, args.strategy, method='routed-paper')}")
    say(paired_line(summary, args.strategy))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
