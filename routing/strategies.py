"""Routing strategies and gain analysis (docs/METHOD.md, Strategies).

Each strategy takes a fitted PPM, a :class:`~routing.features.FeatureBuilder` for the pool, a budget and
one numpy Generator, and returns a :class:`Routing`: the mask (True = human), the predicted performance and
each instance's gain, ready to be stored as one decision per instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routing.candidates import ChunkedSampler, FillSampler, generate_candidates
from routing.features import FeatureBuilder
from routing.ppm import PPM
from routing.uncertainty import UNCERTAINTY_FEATURES

STRATEGIES = ("simulated", "top_k", "greedy", "unlimited")
SAMPLERS = ("fill+masks", "fill", "masks", "uniform")
DEFAULT_K = 20_000  # simulated routing's candidates: the vectorised fill scores them in about a second
MASKS_K = 500  # with explicit masks (paper mode), what the paper's procedure affords


@dataclass
class Routing:
    mask: np.ndarray  # N bool, True = human
    predicted: float
    strategy: str
    budget: int
    gains: np.ndarray  # per-instance gain f(x(e_i)) - f(x(0))
    info: dict[str, Any] = field(default_factory=dict)


def resolve_budget(budget: int | float, n: int) -> int:
    """A count (int >= 1) or a fraction of the pool (0 <= float < 1, or 1.0 = everything)."""
    if isinstance(budget, bool):
        raise ValueError(f"budget {budget!r}: expected a count or a fraction")
    if isinstance(budget, float) and 0.0 <= budget <= 1.0 and not float(budget).is_integer():
        return int(round(budget * n))
    if isinstance(budget, float) and budget == 1.0:
        return n
    b = int(budget)
    if b != budget or not 0 <= b <= n:
        raise ValueError(f"budget {budget!r}: expected a count in 0..{n} or a fraction in [0, 1]")
    return b


def instance_gains(ppm: PPM, builder: FeatureBuilder) -> np.ndarray:
    """Gain of routing each instance alone: f(x(e_i)) - f(x(0)) (paper section 5, Figure 5)."""
    x0 = builder.transform(np.zeros((1, builder.n), bool))[0]
    return ppm.marginal_gains(x0, builder.deltas())


def simulated(
    ppm: PPM,
    builder: FeatureBuilder,
    budget: int | float,
    rng: np.random.Generator,
    k: int | None = None,
    sampler: str | None = None,
) -> Routing:
    """Best of k candidates at budget b by predicted performance (Algorithm 1's simulated routing).

    sampler "fill": Algorithm 1's tag-group fill scored from tag counts
    (:class:`~routing.candidates.FillSampler`: tens of thousands of candidates a second at any N, each
    scored by one product in count space); "masks": k explicit masks from the mode's generators (tag-group
    fill, per-tag Bernoulli, uniform; what paper mode uses, because its counting quirks are not functions of
    the counts); "fill+masks" (the default outside paper mode): ``MASKS_K`` explicit masks first, then k fill
    candidates, then the mask of the b largest instance gains (``top_k``'s), the best of all (the masks'
    per-tag Bernoulli sets mix tags in ways whole-group fills do not, so neither family alone is always
    best; under a linear PPM at a fixed budget the top-gain mask is the exact optimum, which sampled
    candidates over 100+ tags only approach); "uniform": uniformly random human sets
    (:class:`~routing.candidates.ChunkedSampler`). Which sampler ran is recorded in ``info``. k defaults to
    ``DEFAULT_K`` with counts and ``MASKS_K`` with masks.
    """
    b = resolve_budget(budget, builder.n)
    mode = builder.mode
    quirky = mode.rerank_lengths_in_human_subset or mode.inclusive_count_edges
    sampler = sampler or ("masks" if quirky else "fill+masks")
    if sampler not in SAMPLERS:
        raise ValueError(f"simulated: unknown sampler {sampler!r}: expected one of {SAMPLERS}")
    if sampler != "masks" and quirky:
        raise ValueError(
            f"simulated: the {sampler!r} sampler cannot reproduce paper-mode counting; use masks"
        )
    k = k if k is not None else (MASKS_K if sampler == "masks" else DEFAULT_K)
    if k < 1:
        raise ValueError(f"simulated: k={k} must be at least 1")
    gains = instance_gains(ppm, builder)
    if sampler == "masks":
        best_mask, preds = _simulated_masks(ppm, builder, b, rng, k)
    elif sampler == "fill+masks":
        mask_a, preds_a = _simulated_masks(ppm, builder, b, rng, MASKS_K)
        mask_b, preds_b = _simulated_counts(ppm, builder, b, rng, k, "fill")
        mask_c = top_gain_mask(gains, b)
        pred_c = ppm.predict(builder.transform(mask_c[None, :]))
        preds = np.concatenate([preds_a, preds_b, pred_c])
        best_mask = [mask_a, mask_b, mask_c][int(np.argmax([preds_a.max(), preds_b.max(), pred_c[0]]))]
    else:
        best_mask, preds = _simulated_counts(ppm, builder, b, rng, k, sampler)
    spread = {q: float(np.quantile(preds, q)) for q in (0.0, 0.5, 0.95, 1.0)}
    predicted = float(ppm.predict(builder.transform(best_mask[None, :]))[0])
    return Routing(
        best_mask,
        predicted,
        "simulated",
        b,
        gains,
        {"k": int(len(preds)), "sampler": sampler, "spread": spread},
    )


# Candidate masks drawn at once are bounded by cells (masks x instances), so that drawing them costs about the
# same memory at any pool size: 500 masks up to 100,000 instances, 50 at 1,000,000 (a few hundred MB).
MASK_CELLS_PER_BATCH = 50_000_000


def _simulated_masks(ppm, builder, b, rng, k, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """The best of k explicit masks of budget b from the mode's generators, drawn and scored in batches."""
    batch = max(1, min(batch, MASK_CELLS_PER_BATCH // max(1, builder.n)))
    best, best_pred, preds = None, -np.inf, []
    for start in range(0, k, batch):
        n = min(batch, k - start)
        cands = generate_candidates(builder.T, n, rng, builder.mode, budgets=np.full(n, b))
        p = ppm.predict(builder.transform(cands.masks))
        preds.append(p)
        j = int(np.argmax(p))
        if p[j] > best_pred:
            best, best_pred = cands.masks[j].copy(), p[j]
    return best, np.concatenate(preds)


def count_space_predictor(ppm: PPM, builder: FeatureBuilder, budget: int):
    """predict(counts) for candidates of one budget, with the mode's scaling and the constant human share
    folded into the PPM's explicit form (float32, no per-candidate feature arrays); None for LightGBM."""
    if ppm.form_ is None:
        return None
    c, g, Q = ppm.form_
    F = builder.T.shape[1]
    x0 = builder.from_counts(np.zeros((1, F)), np.array([budget]))[0]  # share column at this budget
    scale = builder.from_counts(np.eye(F), np.zeros(F)) - builder.from_counts(np.zeros((F, F)), np.zeros(F))
    A = scale[:, :F].diagonal()  # x = x0 + A * counts on the tag columns
    G = np.zeros(len(x0))
    G[:F] = A
    const = c + g @ x0 + x0 @ Q @ x0
    lin = (g + 2 * Q @ x0)[:F] * A
    quad = (Q[:F, :F] * A[:, None]) * A[None, :]
    lin32, quad32 = lin.astype(np.float32), quad.astype(np.float32)

    def predict(counts: np.ndarray) -> np.ndarray:
        counts = np.asarray(counts, dtype=np.float32)
        return const + counts @ lin32 + np.einsum("kf,kf->k", counts @ quad32, counts)

    return predict


def count_scorer(ppm: PPM, builder: FeatureBuilder, budget: int):
    """predict(counts) for candidates of one budget: the explicit form in count space (linear, quadratic)
    or the PPM on the candidates' feature vectors built from their counts (LightGBM)."""
    fast = count_space_predictor(ppm, builder, budget)
    if fast is not None:
        return fast
    return lambda counts: ppm.predict(builder.from_counts(counts, np.full(len(counts), budget)))


def tag_scores(score, builder: FeatureBuilder, budget: int) -> np.ndarray:
    """What routing a tenth of the budget's worth of instances carrying only tag j adds to the prediction,
    per tag (the direction the fill's guided candidates lean to)."""
    F = builder.T_count.shape[1]
    m = max(1.0, budget / 10)
    return score(np.eye(F, dtype=np.float32) * m) - score(np.zeros((1, F), dtype=np.float32))[0]


def _simulated_counts(ppm, builder, b, rng, k, kind: str) -> tuple[np.ndarray, np.ndarray]:
    per_round = max(1, min(k, 32768))
    score = count_scorer(ppm, builder, b)
    if kind == "fill":
        sampler = FillSampler(builder.T_count, b, rng, per_round, tag_scores(score, builder, b))
    else:
        sampler = ChunkedSampler(builder.T_count, b, rng, per_round=per_round)
    best, best_pred, preds = None, -np.inf, []
    done = 0
    while done < k:
        n = min(sampler.per_round, k - done)
        counts, state = sampler.round(n)
        n = len(counts)
        p = score(counts)
        preds.append(p)
        j = int(np.argmax(p))
        if p[j] > best_pred:
            best, best_pred = sampler.mask(state, j), p[j]
        done += n
    return best, np.concatenate(preds)


def top_gain_mask(gains: np.ndarray, b: int) -> np.ndarray:
    """The b instances of largest individual gain (ties broken by index)."""
    mask = np.zeros(len(gains), dtype=bool)
    mask[np.argsort(-gains, kind="stable")[:b]] = True
    return mask


def top_k(
    ppm: PPM, builder: FeatureBuilder, budget: int | float, rng: np.random.Generator | None = None
) -> Routing:
    """The b instances with the largest individual gain f(x(e_i)) - f(x(0)) (ties broken by index)."""
    b = resolve_budget(budget, builder.n)
    gains = instance_gains(ppm, builder)
    mask = top_gain_mask(gains, b)
    predicted = float(ppm.predict(builder.transform(mask[None, :]))[0])
    return Routing(mask, predicted, "top_k", b, gains)


class TrustRegion:
    """Keeps an optimiser where the PPM was trained: a point is allowed when its standardised distance to
    the nearest training candidate is at most ``radius`` = ``factor`` x the largest nearest-neighbour
    distance among the training candidates themselves."""

    def __init__(self, X_train: np.ndarray, factor: float = 1.0) -> None:
        X = np.asarray(X_train, dtype=np.float64)
        self.mean = X.mean(axis=0)
        self.scale = X.std(axis=0)
        self.scale[self.scale == 0] = 1.0
        self.Z = (X - self.mean) / self.scale
        d = self._pairwise(self.Z, self.Z)
        np.fill_diagonal(d, np.inf)
        nn = d.min(axis=1) if len(X) > 1 else np.array([1.0])
        self.radius = float(factor * np.max(nn[np.isfinite(nn)])) if np.isfinite(nn).any() else np.inf

    @staticmethod
    def _pairwise(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T
        return np.sqrt(np.maximum(d2, 0.0))

    def distance(self, X: np.ndarray) -> np.ndarray:
        Z = (np.atleast_2d(X) - self.mean) / self.scale
        return self._pairwise(Z, self.Z).min(axis=1)


def greedy(
    ppm: PPM,
    builder: FeatureBuilder,
    budget: int | float,
    rng: np.random.Generator | None = None,
    steps: int = 50,
    guard: bool = True,
    guard_factor: float = 1.0,
    shortlist: int = 256,
) -> Routing:
    """Grow the human set in ``steps`` batches, each time adding the instances of largest marginal gain
    f(x + D_i) - f(x) at the current x (for a quadratic PPM: one matrix product per step).

    Guard: among the shortlist of best gains, only additions whose new x stays inside the PPM's
    :class:`TrustRegion` are taken; when none does, the addition that moves closest to the training
    candidates is taken instead, so the budget is always spent exactly.
    """
    b = resolve_budget(budget, builder.n)
    D = builder.deltas()
    x = builder.transform(np.zeros((1, builder.n), bool))[0]
    mask = np.zeros(builder.n, dtype=bool)
    region = TrustRegion(ppm.X_train_, guard_factor) if guard else None
    per_step = max(1, int(np.ceil(b / max(steps, 1))))
    left_region = 0
    while mask.sum() < b:
        take = min(per_step, b - int(mask.sum()))
        gains = ppm.marginal_gains(x, D)
        gains[mask] = -np.inf
        chosen = _pick(gains, D, x, take, region, shortlist)
        if region is not None and region.distance(x + D[chosen].sum(0))[0] > region.radius:
            left_region += 1
        mask[chosen] = True
        x = x + D[chosen].sum(axis=0)
    predicted = float(ppm.predict(builder.transform(mask[None, :]))[0])
    info = {"steps": int(np.ceil(b / per_step)) if b else 0, "guard": guard}
    if region is not None:
        info.update(
            radius=region.radius, final_distance=float(region.distance(x)[0]), steps_outside=left_region
        )
    return Routing(mask, predicted, "greedy", b, instance_gains(ppm, builder), info)


def _pick(gains, D, x, take, region, shortlist) -> np.ndarray:
    order = np.argsort(-gains, kind="stable")
    order = order[np.isfinite(gains[order])]
    if region is None:
        return order[:take]
    if region.distance(x + D[order[:take]].sum(axis=0))[0] <= region.radius:
        return order[:take]  # the whole batch stays inside: no need to go one by one
    short = order[: max(shortlist, take)]
    chosen: list[int] = []
    pos = x.copy()
    for _ in range(take):  # add one by one so the batch as a whole stays inside
        rest = short[~np.isin(short, chosen)]
        dist = region.distance(pos[None, :] + D[rest])
        inside = np.nonzero(dist <= region.radius)[0]
        j = rest[inside[0]] if inside.size else rest[int(np.argmin(dist))]
        chosen.append(int(j))
        pos = pos + D[j]
    return np.asarray(chosen, dtype=np.int64)


def unlimited(
    ppm: PPM,
    builder: FeatureBuilder,
    budget: Any = None,
    rng: np.random.Generator | None = None,
    method: str = "positive_gain",
    grid: int = 11,
    k: int = 2000,
) -> Routing:
    """No budget: route every instance whose individual gain is positive (paper Table 3), or
    (method="search") search b over a grid of shares with simulated routing and keep the best."""
    gains = instance_gains(ppm, builder)
    if method == "positive_gain":
        mask = gains > 0
        predicted = float(ppm.predict(builder.transform(mask[None, :]))[0])
        return Routing(mask, predicted, "unlimited", int(mask.sum()), gains, {"method": method})
    if method != "search":
        raise ValueError(f"unlimited: unknown method {method!r}")
    rng = rng if rng is not None else np.random.default_rng(0)
    best: Routing | None = None
    tried = {}
    for share in np.linspace(0, 1, grid):
        r = simulated(ppm, builder, int(round(share * builder.n)), rng, k=k)
        tried[float(share)] = r.predicted
        if best is None or r.predicted > best.predicted:
            best = r
    assert best is not None
    best.strategy = "unlimited"
    best.info.update(method=method, tried=tried)
    return best


def route(
    strategy: str, ppm: PPM, builder: FeatureBuilder, budget: Any, rng: np.random.Generator, **kw
) -> Routing:
    """Dispatch by name: simulated, top_k, greedy, unlimited."""
    fns = {"simulated": simulated, "top_k": top_k, "greedy": greedy, "unlimited": unlimited}
    if strategy not in fns:
        raise ValueError(f"unknown routing strategy {strategy!r}: expected one of {STRATEGIES}")
    return fns[strategy](ppm, builder, budget, rng, **kw)


def tag_gain_table(
    ppm: PPM,
    builder: FeatureBuilder,
    rng: np.random.Generator,
    n: int = 100,
    trials: int = 10,
) -> list[dict[str, Any]]:
    """Paper Table 12: for each tag, route n random instances that carry it (all of them when fewer),
    gain = f(x) - f(x(0)), averaged over ``trials``; rows sorted by gain, with gain / n. ``group`` says
    whether a row is one of the paper's tags or an LM-uncertainty tag (what a chart colours)."""
    all_lm = float(ppm.predict(builder.transform(np.zeros((1, builder.n), bool)))[0])
    rows = []
    for column, name in enumerate(builder.tag_names):
        carriers = np.nonzero(builder.T[:, column])[0]
        routed = min(n, carriers.size)
        gain = _carrier_gain(ppm, builder, carriers, routed, trials, rng) - all_lm if routed else float("nan")
        rows.append(
            {
                "tag": name,
                "group": _group(name),
                "carriers": int(carriers.size),
                "n": routed,
                "gain": gain,
                "gain_per_instance": gain / routed if routed else float("nan"),
            }
        )
    rows.sort(key=lambda row: -np.nan_to_num(row["gain"], nan=-np.inf))
    return rows


def _carrier_gain(
    ppm: PPM,
    builder: FeatureBuilder,
    carriers: np.ndarray,
    routed: int,
    trials: int,
    rng: np.random.Generator,
) -> float:
    """The mean predicted score when ``routed`` random carriers of a tag go to people, over ``trials``."""
    masks = np.zeros((trials, builder.n), dtype=bool)
    for trial in range(trials):
        masks[trial, rng.choice(carriers, size=routed, replace=False)] = True
    return float(np.mean(ppm.predict(builder.transform(masks))))


def _group(tag: str) -> str:
    return "uncertainty" if tag in UNCERTAINTY_FEATURES else "paper"
