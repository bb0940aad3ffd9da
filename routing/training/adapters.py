"""The small interface the loop needs from the routing core (tags, candidates, PPM, strategies).

The routing core (``routing/*.py``) is written by another engineer; this module uses it where it exists
and otherwise falls back to minimal recommended-mode implementations here (spec/routing.md sections
2, 3, 5, 6), so the loop and the experiment run today and switch over by editing this one file.
No Django import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.reward.data import Instance

# ---------------------------------------------------------------- tags (spec 2) ---------------------------


def _bins(values: np.ndarray, edges: Sequence[float] = (0.33, 0.67)) -> np.ndarray:
    """Half-open bins [lo, hi), last closed; below 0 -> first bin, above 1 -> last (recommended mode)."""
    return np.digitize(values, edges)


def _percentile_rank(values: np.ndarray) -> np.ndarray:
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks / max(len(values) - 1, 1)


def simple_tags(
    instances: Sequence[Instance],
    response_embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    min_category: int = 15,
) -> tuple[np.ndarray, list[str]]:
    """A cheap tag matrix: the four length features and cosine similarity in 3 bins, frequent categories.

    A stand-in for the routing core's 90 tags when they are not computed: enough structure for the
    PPM to learn from, computed in milliseconds.
    """
    words = lambda s: len(s.split())  # noqa: E731
    prompt = np.array([words(i.prompt) for i in instances], float)
    la = np.array([words(i.response_a) for i in instances], float)
    lb = np.array([words(i.response_b) for i in instances], float)
    raw = {
        "prompt_len": prompt,
        "len_shorter": np.minimum(la, lb),
        "len_longer": np.maximum(la, lb),
        "token_len_diff": np.abs(la - lb),
    }
    columns, names = [], []
    for name, values in raw.items():
        b = _bins(_percentile_rank(values))
        for k, label in enumerate(("low", "mid", "high")):
            columns.append(b == k)
            names.append(f"{name}:{label}")
    if response_embeddings is not None:
        ea, eb = response_embeddings
        cos = (ea * eb).sum(1) / np.maximum(np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1), 1e-9)
        b = _bins(cos)
        for k, label in enumerate(("low", "mid", "high")):
            columns.append(b == k)
            names.append(f"cosine_sim:{label}")
    columns.append((la == 0) | (lb == 0))
    names.append("empty_response")
    cats: dict[str, int] = {}
    for i in instances:
        cats[i.category] = cats.get(i.category, 0) + 1
    for cat in sorted(c for c, n in cats.items() if n >= min_category and c):
        columns.append(np.array([i.category == cat for i in instances]))
        names.append(f"category:{cat}")
    return np.stack(columns, axis=1).astype(bool), names


# ---------------------------------------------------------------- candidates (spec 3) ---------------------


def candidate_features(masks: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """Recommended mode: per-tag share of the pool routed to humans, plus the human share itself."""
    masks = np.atleast_2d(masks).astype(np.float32)
    n = tags.shape[0]
    return np.concatenate([masks @ tags.astype(np.float32) / n, masks.sum(1, keepdims=True) / n], axis=1)


def generate_candidates(tags: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """K masks over the pool: all-LM, all-human, then a mix of uniform, tag-group fill and per-tag Bernoulli."""
    try:  # the routing core, when present
        from routing.candidates import generate_candidates as core_generate

        return np.asarray(core_generate(tags, k, rng).masks, dtype=bool)
    except ImportError:
        pass
    n, f = tags.shape
    masks = np.zeros((k, n), dtype=bool)
    if k >= 2:
        masks[1] = True  # masks[0] stays all-LM
    for row in range(2, k):
        kind = row % 3
        b = int(rng.integers(1, n))
        if kind == 0:  # uniform at budget b
            masks[row, rng.permutation(n)[:b]] = True
        elif kind == 1:  # paper's tag-group fill
            chosen: list[int] = []
            seen = np.zeros(n, bool)
            for t in rng.permutation(f):
                members = np.flatnonzero(tags[:, t] & ~seen)
                members = rng.permutation(members)[: b - len(chosen)]
                seen[members] = True
                chosen.extend(members.tolist())
                if len(chosen) >= b:
                    break
            rest = rng.permutation(np.flatnonzero(~seen))[: b - len(chosen)]
            masks[row, chosen] = True
            masks[row, rest] = True
        else:  # per-tag Bernoulli: each tag gets its own routing probability
            p_tag = rng.uniform(0, 1, f)
            p = np.where(tags.any(1), (tags * p_tag).sum(1) / np.maximum(tags.sum(1), 1), rng.uniform())
            masks[row] = rng.uniform(size=n) < p
    return masks


# ---------------------------------------------------------------- PPM (spec 5) ----------------------------


@dataclass
class PPM:
    """Standardise, optional degree-2 expansion, ridge with alpha by cross-validation (recommended mode)."""

    kind: str = "quadratic"  # linear | quadratic | lightgbm
    seed: int = 0
    model: object = field(default=None, repr=False)

    def fit(self, X: np.ndarray, y: np.ndarray) -> PPM:
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import PolynomialFeatures, StandardScaler

        alphas = np.logspace(-3, 4, 15)
        if self.kind == "linear":
            self.model = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))
        elif self.kind == "quadratic":
            self.model = make_pipeline(
                StandardScaler(),
                PolynomialFeatures(2, include_bias=False),
                StandardScaler(),
                RidgeCV(alphas=alphas),
            )
        elif self.kind == "lightgbm":
            from lightgbm import LGBMRegressor

            self.model = LGBMRegressor(random_state=self.seed, verbose=-1, n_jobs=1)
        else:
            raise ValueError(f"unknown PPM kind {self.kind!r}: expected linear, quadratic or lightgbm")
        self.model.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(np.atleast_2d(X)), dtype=float)


def make_ppm(kind: str, seed: int) -> PPM:
    """The routing core's estimator when present (same fit / predict interface), else the fallback above."""
    try:
        from routing.ppm import PPM as CorePPM

        return CorePPM(kind=kind, random_state=seed)
    except ImportError:
        return PPM(kind=kind, seed=seed)


# ---------------------------------------------------------------- strategies (spec 6) ---------------------


def route_simulated(ppm: PPM, tags: np.ndarray, budget: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Draw K uniform masks at the budget (one permutation per batch), predict each, keep the best."""
    n = tags.shape[0]
    base = np.zeros((k, n), dtype=bool)
    for row in range(k):
        base[row, rng.permutation(n)[:budget]] = True
    preds = ppm.predict(candidate_features(base, tags))
    return base[int(np.argmax(preds))]


def route_topk(ppm: PPM, tags: np.ndarray, budget: int) -> np.ndarray:
    """Top-k gain: each instance alone, gain = f(v_i) - f(0); take the budget largest."""
    n = tags.shape[0]
    singles = np.eye(n, dtype=bool)
    gains = ppm.predict(candidate_features(singles, tags)) - ppm.predict(
        candidate_features(np.zeros((1, n), bool), tags)
    )
    mask = np.zeros(n, dtype=bool)
    mask[np.argsort(-gains, kind="stable")[:budget]] = True
    return mask


def route_greedy(ppm: PPM, tags: np.ndarray, budget: int, steps: int = 10) -> np.ndarray:
    """Greedy marginal gain in ``steps`` batches, from all-LM to the budget."""
    n = tags.shape[0]
    mask = np.zeros(n, dtype=bool)
    for step in range(steps):
        target = round(budget * (step + 1) / steps)
        free = np.flatnonzero(~mask)
        trial = np.repeat(mask[None, :], len(free), axis=0)
        trial[np.arange(len(free)), free] = True
        gains = ppm.predict(candidate_features(trial, tags))
        mask[free[np.argsort(-gains, kind="stable")[: target - mask.sum()]]] = True
    return mask


STRATEGIES = ("simulated", "topk", "greedy")


def route(
    strategy: str, ppm: PPM, tags: np.ndarray, budget: int, rng: np.random.Generator, k: int = 2000
) -> np.ndarray:
    if strategy == "simulated":
        return route_simulated(ppm, tags, budget, k, rng)
    if strategy == "topk":
        return route_topk(ppm, tags, budget)
    if strategy == "greedy":
        return route_greedy(ppm, tags, budget)
    raise ValueError(f"unknown routing strategy {strategy!r}: expected one of {STRATEGIES}")
