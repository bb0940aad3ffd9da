"""Benchmark: candidate datasets scored per second at N=10,000 instances, F=90 tags (target >= 100,000/s).

Run: .venv/bin/python bench/routing.py [--n 10000] [--seconds 3] [--budget 0.25]
Scoring = drawing a uniformly random human set of size b, its per-tag counts, the PPM input and the
quadratic PPM's prediction. Ours: :class:`routing.candidates.ChunkedSampler` + explicit quadratic form.
Baseline, measured in the same run: the straightforward per-candidate loop (the authors' approach): build each
candidate as a Python set of instance ids, count tags by walking its instances' tag lists into a dict, build
the feature list, predict. The comparison (ratio, must be >= 100) is printed last.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing.binning import TagTable  # noqa: E402
from routing.candidates import ChunkedSampler, generate_candidates  # noqa: E402
from routing.descriptive import DIMENSIONS  # noqa: E402
from routing.features import FeatureBuilder  # noqa: E402
from routing.ppm import PPM  # noqa: E402
from routing.strategies import count_space_predictor  # noqa: E402
from routing.textual import LENGTH_TAGS, SIMILARITY_TAGS  # noqa: E402


def synthetic_pool(n: int, rng: np.random.Generator) -> TagTable:
    textual = {t: rng.random(n) for t in SIMILARITY_TAGS}
    textual.update({t: rng.integers(0, 500, n).astype(float) for t in LENGTH_TAGS})
    subjects = DIMENSIONS["subject_of_expertise"].labels
    answers = [
        {
            "subject_of_expertise": list(rng.choice(subjects, size=rng.integers(1, 4), replace=False)),
            "expertise_level": ["general public", "basic domain knowledge", "expert domain knowledge"][
                rng.integers(3)
            ],
            "languages": ["English"],
            "open_endedness": ["no", "low", "moderate", "high"][rng.integers(4)],
            "safety_concern": ["safe", "low", "moderate", "high"][rng.integers(4)],
            "complexity_of_intents": ["simple", "moderate", "complex"][rng.integers(3)],
            "type_of_in_context_material": ["text"] if rng.random() < 0.3 else [],
            "format_constraints": ["list"] if rng.random() < 0.4 else [],
        }
        for _ in range(n)
    ]
    return TagTable.build(list(range(n)), textual, answers)


def ours(ppm: PPM, builder: FeatureBuilder, b: int, seconds: float, seed: int) -> tuple[float, float]:
    sampler = ChunkedSampler(builder.T_count, b, np.random.default_rng(seed))
    predict = count_space_predictor(ppm, builder, b)
    check, _ = sampler.round(64)
    exact = ppm.predict(builder.from_counts(check, np.full(64, b)))
    assert np.allclose(predict(check), exact, atol=1e-4), "count-space predictor disagrees with the PPM"
    done, best = 0, -np.inf
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        counts, _ = sampler.round()
        pred = predict(counts)
        best = max(best, float(pred.max()))
        done += len(counts)
    return done / (time.perf_counter() - t0), best


def baseline(ppm: PPM, builder: FeatureBuilder, b: int, k: int, seed: int) -> float:
    """One candidate at a time, as Python sets, lists and dicts."""
    rnd = random.Random(seed)
    names = builder.tag_names
    tags_of = [[names[j] for j in np.nonzero(row)[0]] for row in builder.T]  # instance -> its tag names
    ids = list(range(builder.n))
    t0 = time.perf_counter()
    for _ in range(k):
        human = set(rnd.sample(ids, b))
        counts: dict[str, int] = {}
        for i in human:
            for tag in tags_of[i]:
                counts[tag] = counts.get(tag, 0) + 1
        vector = [counts.get(name, 0) / builder.n for name in names] + [len(human) / builder.n]
        ppm.predict(np.array([vector]))
    return k / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=0.25)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--baseline-k", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    table = synthetic_pool(args.n, rng)
    builder = FeatureBuilder(table)
    cands = generate_candidates(builder.T, 200, rng)
    X = builder.transform(cands.masks)
    y = 0.6 + 0.05 * X[:, -1] - 0.1 * (X[:, -1] - 0.4) ** 2 + 0.01 * rng.normal(size=len(X))
    ppm = PPM("quadratic").fit(X, y, builder.feature_names)
    b = int(round(args.budget * args.n)) if args.budget < 1 else int(args.budget)
    print(f"N={args.n}, F={len(builder.tag_names)} tags (+ human share), budget b={b}, quadratic PPM")
    rate, best = ours(ppm, builder, b, args.seconds, args.seed)
    print(
        f"vectorised (chunked sampler + explicit quadratic): {rate:,.0f} candidates/s, best predicted {best:.4f}"
    )
    base = baseline(ppm, builder, b, args.baseline_k, args.seed)
    print(f"per-candidate Python loop (sets/dicts, {args.baseline_k} candidates): {base:,.1f} candidates/s")
    verdict = "PASS" if rate >= 100_000 and rate / base >= 100 else "FAIL"
    print(
        f"comparison: {rate:,.0f} vs {base:,.1f} candidates/s -> ratio {rate / base:,.0f}x "
        f"(targets: >= 100,000/s and >= 100x) -> {verdict}"
    )


if __name__ == "__main__":
    main()
