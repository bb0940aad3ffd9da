"""Benchmark: all 9 textual tags for the 999 PandaLM pairs on this machine (target: under 60 s after models load).

Run: .venv/bin/python bench/tags.py [--mode recommended|paper] [--device cpu|cuda]
Prints model load time, time per tag (the MiniLM encoding is shared by bertscore, bertscore_length and
cosine_sim), pairs/s, and a final comparison line against the 60 s target.
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

from routing.config import get_mode  # noqa: E402
from routing.textual import TAG_NAMES, TextPair, compute_textual_tags, load_ner, minilm_scorer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "pandalm" / "pandalm.jsonl"
TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="recommended")
    parser.add_argument("--device", default=None)
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()
    mode = get_mode(args.mode)
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    pairs = [TextPair.of(r["prompt"], r["response_a"], r["response_b"]) for r in rows]

    t0 = time.perf_counter()
    scorer = minilm_scorer(args.device)
    load_ner()
    load_s = time.perf_counter() - t0
    print(f"models loaded in {load_s:.1f} s (MiniLM on {scorer.device}, spaCy NER)")

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    values = compute_textual_tags(pairs, mode, TAG_NAMES, device=args.device, timings=timings)
    total = time.perf_counter() - t0
    print(f"{len(pairs)} pairs, mode={mode.name}, {os.cpu_count()} CPUs visible")
    for step, secs in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<24s} {secs:7.2f} s")
    for name in TAG_NAMES:
        v = values[name]
        print(f"  {name:<24s} mean {v.mean():9.3f}  min {v.min():8.3f}  max {v.max():8.3f}")
    print(f"throughput: {len(pairs) / total:.1f} pairs/s")
    verdict = "PASS" if total < TARGET_S else "FAIL"
    print(f"comparison: 9 tags x {len(pairs)} pairs in {total:.1f} s vs target {TARGET_S:.0f} s -> {verdict}")


if __name__ == "__main__":
    main()
