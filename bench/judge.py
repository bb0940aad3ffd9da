"""Benchmark: LM judgments per second for each backend available on this machine, on PandaLM pairs.

Run: .venv/bin/python bench/judge.py [--local-pairs 4] [--http-pairs 200] [--latency 0.05] [--concurrency 8]
                                     [--base-url http://127.0.0.1:8000/v1 --model NAME]   # a real server too

- local: SmolLM2-135M-Instruct on the CPU, score mode (label probabilities), both orders per pair.
- openai-stub: the OpenAI-compatible HTTP backend against a stub server this script starts on 127.0.0.1,
  once answering at once (client overhead) and once with ``--latency`` seconds per request (how bounded
  concurrency hides server latency). The stub's numbers measure our client, not a model.
- openai: a real server, when ``--base-url`` is given.
- vllm: in-process, only when the vllm package is importable (a GPU machine); reported as skipped otherwise.
One judgment = one pair in one order. Prints a comparison table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from models.lm.factory import make_judge  # noqa: E402
from models.lm.judge import PairItem  # noqa: E402
from models.lm.stub_server import StubOpenAIServer, always  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "pandalm" / "pandalm.jsonl"


def load_pairs(path: Path, n: int) -> list[PairItem]:
    items = []
    with path.open() as handle:
        for line in handle:
            row = json.loads(line)
            items.append(PairItem(row["prompt"], row["response_a"], row["response_b"], key=row["id"]))
            if len(items) >= n:
                break
    return items


def run(name: str, config: dict, items: list[PairItem], results: list[dict]) -> None:
    started = time.perf_counter()
    judge = make_judge(config)
    if config["backend"] == "local":
        judge.backend._ensure()
    load = time.perf_counter() - started
    started = time.perf_counter()
    out = judge.judge(items)
    wall = time.perf_counter() - started
    judgments = 2 * len(items)
    failures = sum((ab.backend_error is not None) + (ba.backend_error is not None) for ab, ba, _ in out)
    unparsed = sum((ab.verdict is None) + (ba.verdict is None) for ab, ba, _ in out) - failures
    consistent = sum(1 for _, _, r in out if r.consistent)
    tokens = sum(ab.prompt_tokens + ba.prompt_tokens for ab, ba, _ in out)
    row = {
        "backend": name,
        "mode": judge.mode,
        "pairs": len(items),
        "judgments": judgments,
        "load_s": load,
        "wall_s": wall,
        "judgments_per_s": judgments / wall if wall else float("inf"),
        "prompt_tokens_per_s": tokens / wall if wall else float("inf"),
        "failures": failures,
        "unparsed": unparsed,
        "consistent_pairs": consistent,
    }
    results.append(row)
    print(
        f"{name}: {judgments} judgments in {wall:.2f} s = {row['judgments_per_s']:.2f}/s (load {load:.1f} s)",
        flush=True,
    )
    judge.backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--local-pairs", type=int, default=4)
    parser.add_argument("--http-pairs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="Stub server seconds per request.")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--prompt", default="alpacaeval-pairwise")
    parser.add_argument("--base-url", help="A real OpenAI-compatible server to include.")
    parser.add_argument("--model", help="Model name on that server.")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the local backend (1 avoids thrashing on a shared CPU)",
    )
    args = parser.parse_args()

    results: list[dict] = []
    if not args.skip_local:
        items = load_pairs(Path(args.data), args.local_pairs)
        run(
            "local (SmolLM2-135M, CPU)",
            {"backend": "local", "prompt": args.prompt, "threads": args.threads},
            items,
            results,
        )

    items = load_pairs(Path(args.data), args.http_pairs)
    top = {"A": -0.4, "B": -1.3, "tie": -4.0}
    for latency in (0.0, args.latency):
        with StubOpenAIServer(always("A", top), delay=latency) as server:
            config = {
                "backend": "openai",
                "model": "stub",
                "base_url": server.base_url,
                "prompt": args.prompt,
                "max_concurrency": args.concurrency,
                "api_key_env": None,
            }
            run(
                f"openai -> 127.0.0.1 stub, {latency * 1000:.0f} ms/request, concurrency {args.concurrency}",
                config,
                items,
                results,
            )

    if args.base_url:
        config = {
            "backend": "openai",
            "model": args.model or "default",
            "base_url": args.base_url,
            "prompt": args.prompt,
        }
        run(f"openai -> {args.base_url}", config, items, results)

    try:
        import vllm  # noqa: F401

        model = args.model or "HuggingFaceTB/SmolLM2-135M-Instruct"
        run(
            f"vllm in-process ({model})",
            {"backend": "vllm", "model": model, "prompt": args.prompt},
            items,
            results,
        )
    except ImportError:
        results.append(
            {"backend": "vllm in-process", "skipped": "vllm is not installed here (optional extra `gpu`)"}
        )

    print("\n== judgments per second (one judgment = one pair in one order) ==")
    print(
        f"{'backend':<62} {'mode':<9} {'judgm.':>6} {'wall s':>8} {'judg/s':>8} {'fail':>5} {'unparsed':>8}"
    )
    for row in results:
        if "skipped" in row:
            print(f"{row['backend']:<62} skipped: {row['skipped']}")
            continue
        print(
            f"{row['backend']:<62} {row['mode']:<9} {row['judgments']:>6} {row['wall_s']:>8.2f} "
            f"{row['judgments_per_s']:>8.2f} {row['failures']:>5} {row['unparsed']:>8}"
        )
    measured = [r for r in results if "skipped" not in r]
    if measured:
        base = measured[0]
        for row in measured[1:]:
            print(
                f"{row['backend']}: {row['judgments_per_s'] / base['judgments_per_s']:.1f}x {base['backend']}"
            )


if __name__ == "__main__":
    main()
