"""Benchmark: what `manage.py route` runs, scored per second at N=10,000 instances, F=90 tags + uncertainty tags.

Run: .venv/bin/python bench/routing.py [--n 10000] [--seconds 3] [--budget 0.25] [--large 100000]

The default route path's candidate engine (``routing.strategies.simulated``): Algorithm 1's tag-group fill
drawn and scored from tag counts (:class:`routing.candidates.FillSampler` + the PPM's explicit quadratic form
in count space); ``simulated`` itself also scores 500 explicit masks first and, last, the mask of the b
largest instance gains (timed end to end below).
Compared on the *identical* candidates (their masks rebuilt from the sampler) with
- a per-candidate numpy loop: mask -> counts (T^T m) -> feature vector -> PPM prediction, one at a time;
- the authors' loop: the human set as a Python set of instance ids, tags counted by walking each instance's
  tag list into a dict, the feature list built, then predicted.
All three must give the same scores (asserted) before any time is printed. With --large N it also routes a
synthetic pool of N instances with ``simulated``'s defaults and with the explicit-mask path at K=500 (what
`route` ran before), and prints both times and predicted scores. The ratio line is printed last.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing.binning import TagTable  # noqa: E402
from routing.candidates import FillSampler, generate_candidates  # noqa: E402
from routing.descriptive import DIMENSIONS  # noqa: E402
from routing.features import FeatureBuilder  # noqa: E402
from routing.ppm import PPM  # noqa: E402
from routing.strategies import DEFAULT_K, count_scorer, simulated  # noqa: E402
from routing.textual import LENGTH_TAGS, SIMILARITY_TAGS  # noqa: E402
from routing.uncertainty import JudgeReading, uncertainty_table  # noqa: E402


def synthetic_answers(n: int, rng: np.random.Generator) -> list[dict]:
    subjects = DIMENSIONS["subject_of_expertise"].labels
    return [
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


def synthetic_readings(n: int, rng: np.random.Generator) -> list[dict]:
    """Two judges asked in both orders with label probabilities: every uncertainty column can fire."""
    out = []
    for _ in range(n):
        ab, ba = (int(x) for x in rng.choice([-2, -1, 1, 2], size=2))
        other = int(rng.choice([-1, 0, 1]))
        out.append(
            {
                "judge": JudgeReading("judge", ab, (ab, ba), float(rng.exponential(1.0))),
                "second": JudgeReading("second", other),
            }
        )
    return out


def synthetic_pool(n: int, rng: np.random.Generator) -> TagTable:
    textual = {t: rng.random(n) for t in SIMILARITY_TAGS}
    textual.update({t: rng.integers(0, 500, n).astype(float) for t in LENGTH_TAGS})
    table = TagTable.build(list(range(n)), textual, synthetic_answers(n, rng))
    return table.with_uncertainty(uncertainty_table(synthetic_readings(n, rng), "judge"))


def fitted_ppm(builder: FeatureBuilder, rng: np.random.Generator) -> PPM:
    cands = generate_candidates(builder.T, 200, rng, builder.mode)
    X = builder.transform(cands.masks)
    w = rng.normal(0, 0.02, X.shape[1])
    y = 0.6 + X @ w - 0.1 * (X[:, -1] - 0.4) ** 2 + 0.005 * rng.normal(size=len(X))
    return PPM("quadratic").fit(X, y, builder.feature_names)


def numpy_loop(ppm: PPM, builder: FeatureBuilder, masks: np.ndarray, b: int) -> np.ndarray:
    """One candidate at a time: counts, feature vector, prediction."""
    T = builder.T_count.astype(np.float64)
    out = np.empty(len(masks))
    for k, mask in enumerate(masks):
        counts = mask.astype(np.float64) @ T
        out[k] = ppm.predict(builder.from_counts(counts[None, :], np.array([b])))[0]
    return out


def authors_loop(ppm: PPM, builder: FeatureBuilder, masks: np.ndarray) -> np.ndarray:
    """One candidate at a time, as Python sets, lists and dicts."""
    names = builder.tag_names
    tags_of = [[names[j] for j in np.nonzero(row)[0]] for row in builder.T_count]  # instance -> its tag names
    out = np.empty(len(masks))
    for k, mask in enumerate(masks):
        human = set(np.flatnonzero(mask).tolist())
        counts: dict[str, int] = {}
        for i in human:
            for tag in tags_of[i]:
                counts[tag] = counts.get(tag, 0) + 1
        vector = [counts.get(name, 0) / builder.n for name in names] + [len(human) / builder.n]
        out[k] = ppm.predict(np.array([vector]))[0]
    return out


def rate(fn, items: int) -> float:
    t0 = time.perf_counter()
    fn()
    return items / (time.perf_counter() - t0)


def default_path_rate(ppm: PPM, builder: FeatureBuilder, b: int, seconds: float, seed: int) -> float:
    """Candidates drawn and scored per second by the default path (what ``simulated`` does per round)."""
    sampler = FillSampler(builder.T_count, b, np.random.default_rng(seed))
    score = count_scorer(ppm, builder, b)
    done = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        counts, _ = sampler.round()
        score(counts)
        done += len(counts)
    return done / (time.perf_counter() - t0)


def large_pool(n: int, budget: float, seed: int) -> None:
    """``simulated`` with its defaults vs explicit masks at K=500 on a pool of n instances."""
    rng = np.random.default_rng(seed)
    builder = FeatureBuilder(synthetic_pool(n, rng))
    ppm = fitted_ppm(builder, rng)
    b = int(round(budget * n))
    t0 = time.perf_counter()
    fast = simulated(ppm, builder, b, np.random.default_rng(seed))
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    masks = simulated(ppm, builder, b, np.random.default_rng(seed), k=500, sampler="masks")
    t_masks = time.perf_counter() - t0
    print(
        f"N={n}: default simulated (fill, K={fast.info['k']}) {t_fast:.1f}s, predicted {fast.predicted:.5f}; "
        f"explicit masks K=500 (the previous default) {t_masks:.1f}s, predicted {masks.predicted:.5f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=0.25)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--check", type=int, default=200, help="candidates scored by all three paths")
    parser.add_argument("--authors-k", type=int, default=50, help="candidates timed in the authors' loop")
    parser.add_argument("--large", type=int, default=0, help="also route a pool of this many instances")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    builder = FeatureBuilder(synthetic_pool(args.n, rng))
    ppm = fitted_ppm(builder, rng)
    b = int(round(args.budget * args.n))
    print(
        f"N={args.n}, F={builder.T.shape[1]} tags ({len(builder.table.feature_names)} paper + "
        f"{builder.T.shape[1] - len(builder.table.feature_names)} uncertainty) + human share, b={b}, quadratic PPM",
        flush=True,
    )
    sampler = FillSampler(builder.T_count, b, np.random.default_rng(args.seed + 1))
    counts, state = sampler.round(args.check)
    masks = np.stack([sampler.mask(state, k) for k in range(len(counts))])
    fast = count_scorer(ppm, builder, b)(counts)
    loop = numpy_loop(ppm, builder, masks, b)
    authors = authors_loop(ppm, builder, masks[: args.authors_k])
    assert (masks.sum(axis=1) == b).all(), "a candidate does not have exactly b instances"
    assert np.allclose(fast, loop, rtol=0, atol=1e-5), "default path and numpy loop disagree"
    assert np.allclose(authors, loop[: args.authors_k], rtol=0, atol=1e-9), (
        "authors' loop and numpy loop disagree"
    )
    print(
        f"equality: {len(counts)} identical candidates, the three paths agree (max diff {np.abs(fast - loop).max():.1e})"
    )
    r_fast = default_path_rate(ppm, builder, b, args.seconds, args.seed)
    r_loop = rate(lambda: numpy_loop(ppm, builder, masks, b), len(masks))
    r_authors = rate(lambda: authors_loop(ppm, builder, masks[: args.authors_k]), args.authors_k)
    print(
        f"default route path (Algorithm 1 fill from counts, simulated's K={DEFAULT_K:,}): {r_fast:,.0f} candidates/s"
    )
    print(f"per-candidate numpy loop: {r_loop:,.1f} candidates/s")
    print(f"authors' loop (sets/dicts): {r_authors:,.1f} candidates/s")
    t0 = time.perf_counter()
    routed = simulated(ppm, builder, b, np.random.default_rng(args.seed))
    t_sim = time.perf_counter() - t0
    print(
        f"simulated() with its defaults ({routed.info['sampler']}: 500 explicit masks, {DEFAULT_K:,} fill "
        f"candidates, the top-gain mask): {t_sim:.2f}s end to end, {routed.info['k'] / t_sim:,.0f} candidates/s, "
        f"predicted {routed.predicted:.5f}"
    )
    if args.large:
        large_pool(args.large, args.budget, args.seed)
    verdict = "PASS" if r_fast >= 100_000 and r_fast / r_authors >= 100 else "FAIL"
    print(
        f"comparison: {r_fast:,.0f} vs {r_authors:,.1f} candidates/s (numpy loop {r_loop:,.1f}) -> ratio "
        f"{r_fast / r_authors:,.0f}x the authors' loop (targets: >= 100,000/s and >= 100x) -> {verdict}"
    )


if __name__ == "__main__":
    main()
