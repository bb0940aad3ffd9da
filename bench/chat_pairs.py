"""Chat-length preference pairs for the tags benchmark: each response 200-600 tokens, made of real sentences.

Run: .venv/bin/python bench/chat_pairs.py --n 2000 --out /tmp/chat2k.jsonl   (then bench/tags.py --data ...)

Sentences come from the PandaLM prompts and responses in the shared data folder (real English with names,
places and numbers, so the entity tag has work to do). Response A is a random run of sentences up to a
token count drawn from 200-600; response B keeps a random share of A's sentences (0-90 %) and fills the rest
with others, so similarities spread over their whole range. Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing.textual import token_count  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "pandalm" / "pandalm.jsonl"
MIN_TOKENS, MAX_TOKENS = 200, 600
MAX_PAIRS = 1_000_000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentence_pool(source: Path) -> tuple[list[str], list[str]]:
    """(sentences of 4+ words, prompts) from a JSON-lines file with prompt / response_a / response_b."""
    if not source.is_file():
        raise SystemExit(f"the source file is missing: {source} (the shared data folder)")
    sentences, prompts = set(), []
    for line in source.read_text().splitlines():
        row = json.loads(line)
        prompts.append(str(row["prompt"]))
        for text in (row["prompt"], row["response_a"], row["response_b"]):
            for part in _SENTENCE_END.split(str(text)):
                if len(part.split()) >= 4:
                    sentences.add(" ".join(part.split()))
    return sorted(sentences), prompts


def response(rng: random.Random, pool: list[str], target: int, keep: list[str] | None = None) -> list[str]:
    """Sentences adding up to ``target`` tokens (at most MAX_TOKENS), starting from ``keep``."""
    out = list(keep or [])
    count = sum(token_count(s) for s in out)
    while count < target:
        sentence = rng.choice(pool)
        n = token_count(sentence)
        if count + n > MAX_TOKENS:
            if count >= MIN_TOKENS:
                break
            continue
        out.append(sentence)
        count += n
    return out


def make_pairs(n: int, seed: int, source: Path = SOURCE) -> list[dict]:
    rng = random.Random(seed)
    pool, prompts = sentence_pool(source)
    rows = []
    for k in range(n):
        a = response(rng, pool, rng.randint(MIN_TOKENS, MAX_TOKENS))
        shared = rng.sample(a, int(len(a) * rng.uniform(0.0, 0.9)))
        b = response(rng, pool, rng.randint(MIN_TOKENS, MAX_TOKENS), keep=shared)
        rng.shuffle(b)
        rows.append(
            {
                "id": f"chat-{k}",
                "prompt": rng.choice(prompts),
                "response_a": " ".join(a),
                "response_b": " ".join(b),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="number of pairs")
    parser.add_argument("--out", required=True, help="JSON-lines file to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 1 <= args.n <= MAX_PAIRS:
        raise SystemExit(f"--n must be between 1 and {MAX_PAIRS}, got {args.n}")
    out = Path(args.out)
    with out.open("w") as fh:
        for row in make_pairs(args.n, args.seed):
            fh.write(json.dumps(row) + "\n")
    print(f"{args.n} pairs written to {out}")


if __name__ == "__main__":
    main()
