"""Benchmark: the 9 textual tags against their floor, measured in the same run on the same texts.

Run: .venv/bin/python bench/tags.py [--data pairs.jsonl] [--mode recommended|paper] [--device cpu|cuda]
(default data: the 999 PandaLM pairs; chat-length pairs come from bench/chat_pairs.py).

The floor is what no implementation of these tags can avoid: one bare MiniLM forward pass over every
distinct response (the three MiniLM tags share it) plus one bare spaCy NER pass over the same texts. The
tags run as the tags job runs them, streamed in chunks of ``--chunk`` pairs read from the file as they are
needed, so the peak resident memory (printed) shows what a worker needs, whatever the file's size. Floor
and tags alternate chunk by chunk, so that both meet the same load on a shared machine.
Prints model load time, the floor's parts, seconds per tag step, value summaries, and last:
``tags: N pairs in T s = R x floor (MiniLM A s + spaCy B s); peak RSS M MB; P pairs/s``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from routing.config import Mode, get_mode  # noqa: E402
from routing.textual import (  # noqa: E402
    TAG_NAMES,
    MiniLMScorer,
    TextPair,
    compute_textual_tags,
    length_batches,
    load_ner,
    minilm_scorer,
)

DATA = ROOT.parent / "shared" / "data" / "pandalm" / "pandalm.jsonl"
WARM_UP_PAIRS = 32


def read_chunks(path: Path, chunk: int) -> Iterator[list[TextPair]]:
    """The file's pairs, ``chunk`` at a time, never all in memory."""
    if not path.is_file():
        raise SystemExit(f"--data: no such file {path}")
    batch: list[TextPair] = []
    with path.open() as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                batch.append(TextPair.of(row["prompt"], row["response_a"], row["response_b"]))
            except (ValueError, KeyError, TypeError) as error:
                raise SystemExit(f"--data {path} line {number}: not a pair ({error})") from None
            if len(batch) == chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def responses(pairs: list[TextPair]) -> list[str]:
    """Distinct non-empty responses, shortest first (what both floor passes read)."""
    return sorted({t for x in pairs for t in (x.response_a, x.response_b) if t.strip()}, key=len)


def bare_minilm(scorer: MiniLMScorer, texts: list[str]) -> None:
    """Tokenise and run MiniLM over ``texts`` in the tags' length-sorted batches; nothing kept."""
    import torch

    with torch.inference_mode():
        for batch in length_batches(texts, scorer.batch_size, scorer.max_length):
            enc = scorer.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=scorer.max_length,
                return_tensors="pt",
            ).to(scorer.device)
            scorer.model(**enc)


def bare_spacy(nlp, texts: list[str]) -> None:
    for _ in nlp.pipe(texts, batch_size=64):
        pass


def measure(
    path: Path, chunk: int, mode: Mode, device: str | None, scorer: MiniLMScorer, nlp
) -> tuple[int, dict[str, float], dict[str, float], dict[str, list[float]]]:
    """Per chunk, the floor passes and then the tags on the same pairs, so that both meet the same load
    on a shared machine. Returns (pairs, floor seconds, tag step seconds incl. "total", value summaries)."""
    n = 0
    floor = {"minilm": 0.0, "spacy": 0.0}
    timings: dict[str, float] = {"total": 0.0}
    summary: dict[str, list[float]] = {name: [0.0, float("inf"), float("-inf")] for name in TAG_NAMES}
    for pairs in read_chunks(path, chunk):
        texts = responses(pairs)
        t0 = time.perf_counter()
        bare_minilm(scorer, texts)
        t1 = time.perf_counter()
        bare_spacy(nlp, texts)
        t2 = time.perf_counter()
        values = compute_textual_tags(
            pairs, mode, TAG_NAMES, device=device, chunk_size=chunk, timings=timings
        )
        timings["total"] += time.perf_counter() - t2
        floor["minilm"] += t1 - t0
        floor["spacy"] += t2 - t1
        n += len(pairs)
        for name in TAG_NAMES:
            v, s = values[name], summary[name]
            s[0], s[1], s[2] = s[0] + float(v.sum()), min(s[1], float(v.min())), max(s[2], float(v.max()))
    return n, floor, timings, summary


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", default="recommended")
    parser.add_argument("--device", default=None)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument(
        "--chunk", type=int, default=64, help="pairs per chunk (compute_textual_tags' default)"
    )
    args = parser.parse_args()
    if not 1 <= args.chunk <= 4096:
        raise SystemExit(f"--chunk must be between 1 and 4096, got {args.chunk}")
    mode, path = get_mode(args.mode), Path(args.data)

    t0 = time.perf_counter()
    scorer = minilm_scorer(args.device)
    nlp = load_ner()
    print(
        f"models loaded in {time.perf_counter() - t0:.1f} s (MiniLM on {scorer.device}, spaCy {nlp.pipe_names})"
    )
    warm = next(read_chunks(path, WARM_UP_PAIRS))
    compute_textual_tags(warm, mode, TAG_NAMES, device=args.device)  # first-call costs out of both timings

    n, floor_parts, timings, summary = measure(path, args.chunk, mode, args.device, scorer, nlp)
    minilm_s, spacy_s = floor_parts["minilm"], floor_parts["spacy"]
    floor, total = minilm_s + spacy_s, timings.pop("total")
    print(
        f"{n} pairs from {path.name}, mode={mode.name}, chunks of {args.chunk}, {os.cpu_count()} CPUs visible"
    )
    print(f"  floor: bare MiniLM {minilm_s:.2f} s + bare spaCy NER {spacy_s:.2f} s = {floor:.2f} s")
    for step, secs in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<24s} {secs:7.2f} s")
    for name, (total_v, low, high) in summary.items():
        print(f"  {name:<24s} mean {total_v / n:9.3f}  min {low:8.3f}  max {high:8.3f}")
    print(
        f"tags: {n} pairs in {total:.1f} s = {total / floor:.2f}x floor (MiniLM {minilm_s:.1f} s + spaCy "
        f"{spacy_s:.1f} s); peak RSS {peak_rss_mb():.0f} MB; {n / total:.1f} pairs/s"
    )


if __name__ == "__main__":
    main()
