"""The sample the tag-values test computes: short PandaLM pairs as they are, and long pairs (several PandaLM
responses joined, past MiniLM's 256-token window) built from the same file."""

from __future__ import annotations

import json
from pathlib import Path

from routing.textual import TextPair

N_SHORT, N_LONG, JOINED = 40, 12, 10


def sample_pairs(pandalm_path: Path) -> list[TextPair]:
    rows = [json.loads(line) for line in pandalm_path.read_text().splitlines()[: N_SHORT + N_LONG * JOINED]]
    pairs = [TextPair.of(r["prompt"], r["response_a"], r["response_b"]) for r in rows[:N_SHORT]]
    for k in range(N_LONG):
        group = rows[N_SHORT + k * JOINED : N_SHORT + (k + 1) * JOINED]
        a = " ".join(str(r["response_a"]) for r in group)
        b = " ".join(str(r["response_b"]) for r in group[k % 3 :])  # B shares less of A as k grows
        pairs.append(TextPair.of(group[0]["prompt"], a, b))
    return pairs
