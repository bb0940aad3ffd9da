"""RewardBench-style scoring and held-out evaluation against a human aggregate.

RewardBench v1 rules: a triple counts when reward(chosen) > reward(rejected), strictly
(a tie of rewards is wrong); a category's score is its subsets' accuracies weighted by example count (or
by given weights, e.g. math up-weighted); overall = the mean of the category scores. Every subset score is
kept so another objective can be chosen later without retraining.

Everything takes a (H, M) matrix of rewards or of correct flags so H reward models are scored at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BenchLayout:
    """Which subset and category each triple belongs to, and the subset weights."""

    subsets: list[str]
    categories: dict[str, str]  # subset -> category
    subset_index: np.ndarray  # (M,) index into subsets
    weights: np.ndarray  # (S,) weight per subset

    @classmethod
    def from_triples(
        cls, subset_of: Sequence[str], category_of: Sequence[str], weights: Mapping[str, float] | None = None
    ) -> BenchLayout:
        subsets = sorted(set(subset_of))
        categories: dict[str, str] = {}
        for s, c in zip(subset_of, category_of, strict=True):
            if categories.setdefault(s, c) != c:
                raise ValueError(f"subset {s!r} is in two categories: {categories[s]!r} and {c!r}")
        index = {s: k for k, s in enumerate(subsets)}
        subset_index = np.array([index[s] for s in subset_of], dtype=np.int64)
        counts = np.bincount(subset_index, minlength=len(subsets)).astype(np.float64)
        w = counts.copy()
        for name, value in (weights or {}).items():
            if name not in index:
                raise ValueError(f"weight given for unknown subset {name!r}")
            w[index[name]] = value
        return cls(subsets, categories, subset_index, w)


def correct_flags(reward_chosen: np.ndarray, reward_rejected: np.ndarray) -> np.ndarray:
    """Strictly greater: equal rewards count as wrong, as in RewardBench."""
    return np.asarray(reward_chosen) > np.asarray(reward_rejected)


def bench_scores(correct: np.ndarray, layout: BenchLayout) -> dict[str, np.ndarray | dict]:
    """Per-subset, per-category and overall scores for H models at once (arrays of length H)."""
    correct = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    S = len(layout.subsets)
    sums = np.zeros((correct.shape[0], S))
    np.add.at(sums.T, layout.subset_index, correct.T)
    counts = np.bincount(layout.subset_index, minlength=S).astype(np.float64)
    subset_acc = sums / counts
    categories = sorted(set(layout.categories.values()))
    cat_scores = {}
    for cat in categories:
        members = [k for k, s in enumerate(layout.subsets) if layout.categories[s] == cat]
        w = layout.weights[members]
        cat_scores[cat] = subset_acc[:, members] @ w / w.sum()
    overall = np.mean(np.stack(list(cat_scores.values())), axis=0)
    return {
        "subsets": {s: subset_acc[:, k] for k, s in enumerate(layout.subsets)},
        "categories": cat_scores,
        "overall": overall,
    }


def scores_row(scores: dict, h: int = 0) -> dict[str, float | dict[str, float]]:
    """The scores of model h as plain floats (for JSON records)."""
    return {
        "overall": float(scores["overall"][h]),
        "categories": {k: float(v[h]) for k, v in scores["categories"].items()},
        "subsets": {k: float(v[h]) for k, v in scores["subsets"].items()},
    }


def random_splits(n: int, n_test: int, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated random train / test splits of n items, fixed by seed, to be shared by every label mix."""
    if not 0 < n_test < n:
        raise ValueError(f"n_test={n_test} must be between 1 and n-1 (n={n})")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        out.append((np.sort(perm[n_test:]), np.sort(perm[:n_test])))
    return out


def heldout_accuracy(gap_b_minus_a: np.ndarray, gold: np.ndarray, test_mask: np.ndarray) -> np.ndarray:
    """Share of test pairs where the gold winner gets the strictly higher reward.

    gap_b_minus_a: (H, n) reward(b) - reward(a); gold: (n,) signed human aggregate (ties not scored);
    test_mask: (H, n) booleans, which pairs are each model's test pairs.
    """
    sign = np.sign(gold)[None, :]
    scored = test_mask & (sign != 0)
    correct = (gap_b_minus_a * sign > 0) & scored
    return correct.sum(1) / np.maximum(scored.sum(1), 1)
