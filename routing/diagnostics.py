"""Why routing does or does not beat random at the same budget: measurements, not prose. No Django import.

The routing experiment (``routing.experiment``) compares a routed mix with one random mix per budget.
When the two cannot be told apart, three things can be at fault, and this module measures each:

(a) signal vs noise inside one budget. With ``ExperimentConfig.probe_k`` > 0 the experiment trains, per seed,
    objective and budget, extra candidates of exactly that budget (half uniformly random, half tag-structured,
    from ``routing.candidates``) and scores every head on ``noise_folds`` disjoint folds of the test pairs.
    Fold scores of M candidates form an (M, S) matrix; the covariance across candidates between two *different*
    folds estimates the variance of the true (noise-free) scores, the excess of the same-fold variance is fold
    noise (test pairs are disjoint, so fold noises are independent given the heads):

        true_var  = mean off-diagonal of cov(fold scores)      noise_var = (mean diagonal - true_var) / S

    ``noise_var`` is the noise of the S-fold mean (the whole test set); ``true_var + noise_var`` is exactly the
    variance of the fold means. The common difficulty of a fold is shared by every candidate and cancels, so the
    noise is the one that matters for paired comparisons. If true_sd < noise_sd no router can be *seen* to win
    with a handful of seeds, whatever it does.
(b) the PPM inside one budget: Spearman between predicted and measured scores among candidates of one budget,
    beside the Spearman on the same candidates across budgets, the loop's held-out Spearman, and the Spearman of
    the human share alone (what inflates the overall number).
(c) how different the routed mask is from random ones (overlap, distance in tag-count space in units of the
    random masks' spread) and the PPM's predicted gain over the random masks of that budget vs the measured gain,
    with the routed mask's percentile among same-budget candidates, predicted and measured.
(d) :func:`diagnose` pools those over seeds and budgets and words a conclusion; :func:`format_diagnosis`
    prints it.

Everything here is numpy / scipy on arrays and row dicts: pure, fast, testable on synthetic data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from routing.candidates import generate_candidates
from routing.config import RECOMMENDED, Mode

PROBE = "probe"  # row method of the within-budget candidates
UNIFORM = "uniform"
STRUCTURED = ("tag_group_fill", "tag_bernoulli")
ENDS = ("100% human", "100% LM")


# ----------------------------------------------------------------------------------------- measurements


def probe_masks(
    T: np.ndarray, budget: int, k: int, rng: np.random.Generator, mode: Mode = RECOMMENDED
) -> tuple[np.ndarray, list[str]]:
    """k candidate masks of exactly ``budget`` humans: ceil(k/2) uniform (the random reference) and the rest
    tag-structured (tag-group fill / per-tag Bernoulli, the kinds the PPM is trained on). Routing core's
    generator; (k, N) masks and their kinds."""
    n_uniform = (k + 1) // 2
    parts = [
        generate_candidates(T, n_uniform, rng, mode, budgets=np.full(n_uniform, budget), kinds=(UNIFORM,))
    ]
    if k - n_uniform:
        parts.append(
            generate_candidates(
                T, k - n_uniform, rng, mode, budgets=np.full(k - n_uniform, budget), kinds=STRUCTURED
            )
        )
    return np.concatenate([p.masks for p in parts]), [x for p in parts for x in p.kinds]


def balanced_folds(n: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) fold index of each item, fold sizes differing by at most one."""
    if not 2 <= folds <= n:
        raise ValueError(f"balanced_folds: need 2 <= folds ({folds}) <= n ({n})")
    out = np.empty(n, dtype=np.int64)
    out[rng.permutation(n)] = np.arange(n) % folds
    return out


def stratified_folds(groups: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) fold index, balanced inside each group (every group in every fold when it has >= folds items)."""
    groups = np.asarray(groups)
    out = np.empty(len(groups), dtype=np.int64)
    offset = 0
    for g in np.unique(groups):
        idx = rng.permutation(np.flatnonzero(groups == g))
        out[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)  # small groups do not all start in fold 0
    return out


def variance_components(fold_scores: np.ndarray) -> dict[str, float]:
    """True-score and noise variance of M candidates scored on S disjoint folds (module docstring (a))."""
    F = np.asarray(fold_scores, dtype=np.float64)
    if F.ndim != 2 or F.shape[0] < 3 or F.shape[1] < 2:
        raise ValueError(f"variance_components: need (M >= 3, S >= 2) fold scores, got {F.shape}")
    M, S = F.shape
    C = np.cov(F, rowvar=False)
    diag = float(np.mean(np.diag(C)))
    off = float((C.sum() - np.trace(C)) / (S * (S - 1)))
    noise_var = max(diag - off, 0.0) / S
    return {
        "n_candidates": M,
        "folds": S,
        "spread_var": float(np.var(F.mean(axis=1), ddof=1)),  # = true_var + noise_var
        "true_var": off,  # may come out negative when there is no signal: kept for pooling
        "noise_var": noise_var,
    }


def pool_components(parts: Sequence[dict]) -> dict[str, float]:
    """Average variance components over groups (seeds, budgets), then sds, reliability and ratio."""
    true_var = float(np.mean([p["true_var"] for p in parts]))
    noise_var = float(np.mean([p["noise_var"] for p in parts]))
    spread_var = float(np.mean([p["spread_var"] for p in parts]))
    true_sd = math.sqrt(max(true_var, 0.0))
    noise_sd = math.sqrt(noise_var)
    return {
        "groups": len(parts),
        "spread_sd": math.sqrt(max(spread_var, 0.0)),
        "true_sd": true_sd,
        "noise_sd": noise_sd,
        "signal_to_noise": true_sd / noise_sd if noise_sd > 0 else math.inf,
        "reliability": max(true_var, 0.0) / spread_var if spread_var > 0 else 0.0,
    }


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rho; nan when either side is constant or has fewer than 3 values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def mask_geometry(
    mask: np.ndarray,
    reference: np.ndarray,
    counts: np.ndarray,
    reference_counts: np.ndarray,
    names: Sequence[str] | None = None,
) -> dict:
    """How far one mask is from a set of random reference masks of the same budget.

    (Overlap with uniformly random masks is b / N for *any* mask, by symmetry, so it says nothing; how much
    routers agree is :func:`mask_overlaps`.) expected_overlap: b / N, what two unrelated masks share. count_z_rms: root mean square over tags of
    (count - reference mean) / reference sd (tags that vary among the references); a reference mask itself
    scores about 1 (``reference_z_rms``, leave-one-out). max_abs_z: the largest single-tag |z| (a reference
    mask's: ``reference_max_abs_z``); top_tags: the tags furthest from random.
    """
    mask = np.asarray(mask, dtype=bool)
    budget = int(mask.sum())
    reference_counts = np.atleast_2d(np.asarray(reference_counts, dtype=np.float64))
    spread = (
        reference_counts.std(axis=0, ddof=1)
        if len(reference_counts) > 1
        else np.zeros(reference_counts.shape[1])
    )
    varying = spread > 0
    z = (np.asarray(counts, dtype=np.float64).ravel() - reference_counts.mean(axis=0))[varying] / spread[
        varying
    ]
    reference_z_rms, reference_max_z = _leave_one_out_z(reference_counts, varying)
    varying_names = (
        [name for name, kept in zip(names, varying, strict=True) if kept] if names is not None else None
    )
    furthest = np.argsort(-np.abs(z))[:3]
    return {
        "budget": budget,
        "expected_overlap": budget / mask.size,
        "count_z_rms": float(np.sqrt(np.mean(z**2))) if z.size else 0.0,
        "reference_z_rms": float(np.mean(reference_z_rms)) if reference_z_rms else math.nan,
        "max_abs_z": float(np.abs(z).max()) if z.size else 0.0,
        "reference_max_abs_z": float(np.mean(reference_max_z)) if reference_max_z else math.nan,
        "top_tags": [
            {"tag": varying_names[index] if varying_names else int(index), "z": float(z[index])}
            for index in furthest
            if z.size
        ],
    }


def _leave_one_out_z(reference_counts: np.ndarray, varying: np.ndarray) -> tuple[list[float], list[float]]:
    """Each reference mask's z scores against the others (RMS and largest |z|), so that the references are
    judged the way a routed mask is."""
    z_rms, max_z = [], []
    for index in range(len(reference_counts)):
        rest = np.delete(reference_counts, index, axis=0)
        spread = rest.std(axis=0, ddof=1)
        usable = varying & (spread > 0)
        if usable.any() and len(rest) > 1:
            z = (reference_counts[index] - rest.mean(axis=0))[usable] / spread[usable]
            z_rms.append(float(np.sqrt(np.mean(z**2))))
            max_z.append(float(np.abs(z).max()))
    return z_rms, max_z


def mask_overlaps(masks: np.ndarray) -> np.ndarray:
    """(K,) for each mask, the share of its humans that the other masks also route to humans (mean over the
    others; nan for a single mask). Two unrelated masks of budget b share b / N."""
    M = np.atleast_2d(np.asarray(masks, dtype=bool)).astype(np.float64)
    K = len(M)
    if K < 2:
        return np.full(K, np.nan)
    inter = M @ M.T
    np.fill_diagonal(inter, 0.0)
    return inter.sum(axis=1) / (K - 1) / np.maximum(M.sum(axis=1), 1.0)


def percentile(value: float, others: Sequence[float]) -> float:
    """Share (0-100) of ``others`` strictly below ``value``, ties counting half."""
    o = np.asarray(others, dtype=np.float64)
    if not o.size:
        return math.nan
    return float(100 * (np.sum(o < value) + 0.5 * np.sum(o == value)) / o.size)


def oracle_mask(human: np.ndarray, lm: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The mask of an oracle that knows the human labels: instances where the LM label's direction differs
    from the human one go to people first (random order), the rest of the budget is filled at random.
    A diagnosis of the headroom only; no router may read human labels."""
    wrong = np.sign(np.asarray(human)) != np.sign(np.asarray(lm))
    key = rng.random(len(wrong)) + wrong.astype(np.float64)  # every disagreement ranks above every agreement
    mask = np.zeros(len(wrong), dtype=bool)
    mask[np.argsort(-key, kind="stable")[:budget]] = True
    return mask


def disagreement_auc(
    T: np.ndarray, human: np.ndarray, lm: np.ndarray, folds: int = 5, seed: int = 0
) -> float:
    """Cross-validated ROC AUC of a logistic regression predicting human-vs-LM disagreement from the
    feature matrix T (0.5: the tags cannot see where the LM is wrong). nan when a class is too small."""
    y = (np.sign(np.asarray(human)) != np.sign(np.asarray(lm))).astype(int)
    X = np.asarray(T, dtype=np.float64)
    X = X[:, X.std(axis=0) > 0]
    if X.shape[1] == 0 or min(y.sum(), len(y) - y.sum()) < folds:
        return math.nan
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    model = LogisticRegression(C=1.0, max_iter=2000)
    p = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def headroom(summary: Sequence[dict], objective: str = "heldout") -> dict[float, dict]:
    """Per budget: the oracle's paired gain over random and the routers' share of it (from ``summarise``)."""
    cells = [s for s in summary if s["objective"] == objective and "vs_random_mean" in s]
    out: dict[float, dict] = {}
    for s in cells:
        entry = out.setdefault(s["budget"], {})
        name = s["method"] + (f" ({s['strategy']})" if s["strategy"] else "")
        entry[name] = {"mean": s["vs_random_mean"], "se": s.get("vs_random_se", math.nan)}
    return out


def format_headroom(head: dict[float, dict], aucs: dict[str, float]) -> str:
    """The oracle headroom and the disagreement AUCs as lines of text."""
    lines = ["headroom: paired gain over the random mix of the same budget (mean +- SE over seeds)"]
    for budget, cells in sorted(head.items()):
        oracle = cells.get("oracle", {}).get("mean", math.nan)
        parts = []
        for name, c in sorted(cells.items()):
            share = f", {c['mean'] / oracle:.0%} of the oracle's" if name != "oracle" and oracle > 0 else ""
            parts.append(f"{name} {c['mean']:+.3f} +- {_f(c['se'], '.3f')}{share}")
        lines.append(f"  {budget:.0%}: " + "; ".join(parts))
    for name, auc in aucs.items():
        lines.append(
            f"AUC of {name} for predicting human-vs-LM disagreement (5-fold logistic): {_f(auc, '.3f')}"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- diagnosis


def _mean_sd(values: Sequence[float]) -> tuple[float, float, int]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not v.size:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)


def _ms(values: Sequence[float]) -> dict:
    m, s, n = _mean_sd(values)
    return {"mean": m, "sd": s, "n": n, "se": s / math.sqrt(n) if n > 1 else math.nan}


def diagnose(rows: Sequence[dict]) -> dict:
    """Pool the experiment's diagnostic rows (``ExperimentConfig.probe_k`` > 0) per objective and budget.

    Needs, per (seed, objective, budget): probe rows (method ``"probe"``, strategy = candidate kind) and the
    random / routed rows, each with ``fold_scores`` and ``predicted``; routed rows with ``geometry``; and on
    the rows ``ppm_spearman`` / ``share_spearman`` (the loop's held-out PPM Spearman, and the human share's).
    """
    diagnosis: dict = {}
    for objective in sorted({row["objective"] for row in rows}):
        objective_rows = [row for row in rows if row["objective"] == objective]
        if not any(row["method"] == PROBE for row in objective_rows):
            continue
        summary = _diagnose_objective(objective_rows)
        if summary is not None:
            diagnosis[objective] = summary
    return diagnosis


@dataclass
class _BudgetSample:
    """What the seeds measured at one budget: noise components and within-budget Spearman per seed, and per
    routed strategy its gains over the uniform probes, percentiles among the probes, geometry, and its
    paired difference from the random mix."""

    strategies: list[str]
    components: list[dict] = field(default_factory=list)
    within_spearman: list[float] = field(default_factory=list)
    gains: dict[str, dict[str, list]] = field(init=False)
    vs_random: dict[str, list[float]] = field(init=False)

    def __post_init__(self) -> None:
        keys = ("predicted", "measured", "predicted_percentile", "measured_percentile", "geometry")
        self.gains = {strategy: {key: [] for key in keys} for strategy in self.strategies}
        self.vs_random = {strategy: [] for strategy in self.strategies}


def _diagnose_objective(rows: list[dict]) -> dict | None:
    """One objective's diagnosis: per budget, then pooled; None when no budget had enough probes."""
    seeds = sorted({row["seed"] for row in rows})
    budgets = sorted({row["budget"] for row in rows if row["method"] == PROBE})
    strategies = sorted({row["strategy"] for row in rows if row["method"] == "routed"})
    per_budget, all_components, within_spearman = {}, [], []
    for budget in budgets:
        sample = _sample_budget(rows, seeds, budget, strategies)
        if not sample.components:
            continue
        all_components += sample.components
        within_spearman += sample.within_spearman
        signal = pool_components(sample.components)
        per_budget[str(budget)] = {
            "signal": signal,
            "within_spearman": _ms(sample.within_spearman),
            "routed": {strategy: _routed_diagnosis(sample, strategy, signal) for strategy in strategies},
        }
    if not per_budget:
        return None
    first_row_of_seed: dict = {}
    for row in rows:
        first_row_of_seed.setdefault(row["seed"], row)
    summary = {
        "budgets": per_budget,
        "signal": pool_components(all_components),
        "within_spearman": _ms(within_spearman),
        "across_spearman": _ms(_across_budget_spearman(rows, seeds)),
        "ppm_heldout_spearman": _ms([row.get("ppm_spearman") for row in first_row_of_seed.values()]),
        "share_only_spearman": _ms([row.get("share_spearman") for row in first_row_of_seed.values()]),
        "strategies": strategies,
        "seeds": len(seeds),
    }
    summary["conclusion"] = conclude(summary)
    return summary


def _sample_budget(rows: list[dict], seeds: list, budget, strategies: list[str]) -> _BudgetSample:
    """Every seed's measurements at ``budget`` (a seed with fewer than 3 probes is left out)."""
    sample = _BudgetSample(strategies)
    for seed in seeds:
        seed_rows = [row for row in rows if row["seed"] == seed and row["budget"] == budget]
        probes = [row for row in seed_rows if row["method"] == PROBE]
        if len(probes) < 3:
            continue
        sample.components.append(variance_components(np.array([row["fold_scores"] for row in probes])))
        ranked = [row for row in seed_rows if row["method"] in (PROBE, "random", "routed")]
        sample.within_spearman.append(
            spearman([row["predicted"] for row in ranked], [row["score"] for row in ranked])
        )
        uniform = [row for row in probes if row["strategy"] == UNIFORM]
        random_row = next((row for row in seed_rows if row["method"] == "random"), None)
        for routed_row in (row for row in seed_rows if row["method"] == "routed"):
            _add_routed_row(sample, routed_row, probes, uniform, random_row)
    return sample


def _add_routed_row(
    sample: _BudgetSample, routed: dict, probes: list[dict], uniform: list[dict], random_row: dict | None
) -> None:
    """A routed row's gains over the uniform probes' mean, its percentiles among the probes, its geometry
    and its paired difference from the random mix of the same seed."""
    gains = sample.gains[routed["strategy"]]
    gains["predicted"].append(routed["predicted"] - np.mean([row["predicted"] for row in uniform]))
    gains["measured"].append(routed["score"] - np.mean([row["score"] for row in uniform]))
    gains["predicted_percentile"].append(
        percentile(routed["predicted"], [row["predicted"] for row in probes])
    )
    gains["measured_percentile"].append(percentile(routed["score"], [row["score"] for row in probes]))
    if routed.get("geometry"):
        gains["geometry"].append(routed["geometry"])
    if random_row is not None:
        sample.vs_random[routed["strategy"]].append(routed["score"] - random_row["score"])


def _routed_diagnosis(sample: _BudgetSample, strategy: str, signal: dict) -> dict:
    """One routed strategy at one budget, and how many seeds it would take to see a true SD of gain."""
    gains, geometry = sample.gains[strategy], sample.gains[strategy]["geometry"]
    diff_mean, diff_sd, diff_n = _mean_sd(sample.vs_random[strategy])
    seeds_needed = (
        (2 * diff_sd / signal["true_sd"]) ** 2 if signal["true_sd"] > 0 and diff_n > 1 else math.inf
    )
    return {
        "predicted_gain": _ms(gains["predicted"]),
        "measured_gain": _ms(gains["measured"]),
        "predicted_percentile": _ms(gains["predicted_percentile"]),
        "measured_percentile": _ms(gains["measured_percentile"]),
        "overlap": _ms([shape.get("overlap_routed", math.nan) for shape in geometry]),
        "expected_overlap": _ms([shape["expected_overlap"] for shape in geometry]),
        "count_z_rms": _ms([shape["count_z_rms"] for shape in geometry]),
        "reference_z_rms": _ms([shape["reference_z_rms"] for shape in geometry]),
        "max_abs_z": _ms([shape["max_abs_z"] for shape in geometry]),
        "reference_max_abs_z": _ms([shape["reference_max_abs_z"] for shape in geometry]),
        "vs_random": {"mean": diff_mean, "sd": diff_sd, "n": diff_n},
        "seeds_to_see_one_true_sd": seeds_needed,
    }


def _across_budget_spearman(rows: list[dict], seeds: list) -> list[float]:
    """Per seed, Spearman of predicted vs measured over the same candidates across budgets (plus the 100%
    ends): what the human share does to Spearman."""
    across = []
    for seed in seeds:
        scored = [
            row
            for row in rows
            if row["seed"] == seed
            and row.get("predicted") is not None
            and row.get("fold_scores")
            and row["method"] in (PROBE, "random", "routed", *ENDS)
        ]
        across.append(spearman([row["predicted"] for row in scored], [row["score"] for row in scored]))
    return across


def _routed_summary(d: dict) -> dict:
    """Mean over budgets and strategies of the routed-mask numbers, and how many (strategy, budget) cells
    have a measured gain over the uniform masks more than 2 standard errors (over seeds) from zero."""
    vals: dict[str, list] = {}
    up = down = cells = 0
    for per in d["budgets"].values():
        for r in per["routed"].values():
            for key in (
                "predicted_gain",
                "measured_gain",
                "predicted_percentile",
                "measured_percentile",
                "overlap",
                "expected_overlap",
                "count_z_rms",
                "reference_z_rms",
                "max_abs_z",
                "reference_max_abs_z",
                "vs_random",
            ):
                vals.setdefault(key, []).append(r[key]["mean"])
            vals.setdefault("vs_random_sd", []).append(r["vs_random"]["sd"])
            g = r["measured_gain"]
            cells += 1
            if math.isfinite(g["se"]) and g["mean"] > 2 * g["se"]:
                up += 1
            elif math.isfinite(g["se"]) and g["mean"] < -2 * g["se"]:
                down += 1
    out = {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for k, v in vals.items()}
    out.update(cells=cells, cells_up=up, cells_down=down)
    return out


def conclude(diagnosis: dict) -> list[str]:
    """Plain sentences, each carrying the numbers it rests on (thresholds stated in the sentence)."""
    routed = _routed_summary(diagnosis)
    signal = diagnosis["signal"]
    paired_sd = routed.get("vs_random_sd", math.nan)
    lines = [_signal_sentence(signal), _paired_noise_sentence(signal["noise_sd"], paired_sd)]
    lines.append(_ranking_sentence(diagnosis))
    if math.isfinite(routed.get("count_z_rms", math.nan)):
        lines.append(_geometry_sentence(routed))
    lines.append(_gain_sentence(routed))
    lines.append(_conclusion_sentence(routed, signal["true_sd"], paired_sd, diagnosis["seeds"]))
    return lines


def _signal_sentence(signal: dict) -> str:
    true_sd, noise_sd, reliability = signal["true_sd"], signal["noise_sd"], signal["reliability"]
    if true_sd < noise_sd:
        return (
            f"Signal < noise: at one budget the true scores of different mixes spread by sd {true_sd:.4f}, less "
            f"than the noise of one measured score (sd {noise_sd:.4f}; reliability {reliability:.2f}). "
            "Differences between mixes of the same budget are mostly measurement noise."
        )
    return (
        f"Signal >= noise: at one budget the true scores of different mixes spread by sd {true_sd:.4f}, noise of "
        f"one measured score sd {noise_sd:.4f} (reliability {reliability:.2f}): mixes of one budget do differ "
        "measurably."
    )


def _paired_noise_sentence(noise_sd: float, paired_sd: float) -> str:
    return (
        f"Test noise alone predicts a routed-minus-random difference to scatter by sqrt(2) x {noise_sd:.4f} = "
        f"{math.sqrt(2) * noise_sd:.4f} (if the two masks' noises are independent); the experiment's paired "
        f"differences scatter by {paired_sd:.4f} over seeds."
    )


def _ranking_sentence(diagnosis: dict) -> str:
    within, across = diagnosis["within_spearman"]["mean"], diagnosis["across_spearman"]["mean"]
    heldout, share_only = diagnosis["ppm_heldout_spearman"]["mean"], diagnosis["share_only_spearman"]["mean"]
    ranks = within >= 0.3
    if ranks:
        tail = "It carries information beyond the human share."
    elif share_only > 0.3 and share_only >= 0.5 * heldout:
        tail = "Its overall accuracy comes from the human share, not from which instances are routed."
    else:
        tail = (
            "The human share does not explain its held-out Spearman here, but that does not carry over to mixes "
            "of one budget on fresh test data either."
        )
    return (
        f"The PPM {'ranks' if ranks else 'barely ranks'} candidates of one budget (Spearman {within:+.2f} on the "
        f"test pairs), while on the same candidates across budgets it reaches {across:+.2f} and on the loop's "
        f"held-out candidates {heldout:+.2f}; the human share alone gives {share_only:+.2f} on the loop's "
        f"candidates. {tail}"
    )


def _geometry_sentence(routed: dict) -> str:
    differs = (
        routed["count_z_rms"] > 2 * routed["reference_z_rms"]
        or routed["max_abs_z"] > 2 * routed["reference_max_abs_z"]
    )
    agree = (
        f"; different routers share {routed['overlap']:.0%} of their humans (unrelated masks: "
        f"{routed['expected_overlap']:.0%})"
        if math.isfinite(routed.get("overlap", math.nan))
        else ""
    )
    return (
        f"Routed masks {'do' if differs else 'do not'} differ from random ones: their tag counts lie "
        f"{routed['count_z_rms']:.1f} random-mask sds from random in rms, {routed['max_abs_z']:.1f} on the most "
        f"shifted tag (a random mask: {routed['reference_z_rms']:.1f} and "
        f"{routed['reference_max_abs_z']:.1f}){agree}."
    )


def _gain_sentence(routed: dict) -> str:
    predicted_gain = routed.get("predicted_gain", math.nan)
    measured_gain = routed.get("measured_gain", math.nan)
    return (
        f"The PPM predicts routed beats the mean of uniform masks of its budget by {predicted_gain:+.4f} (routed "
        f"at percentile {routed.get('predicted_percentile', math.nan):.0f} of same-budget candidates); measured: "
        f"{measured_gain:+.4f} (percentile {routed.get('measured_percentile', math.nan):.0f}); "
        f"{routed['cells_up']} of {routed['cells']} strategy x budget cells lie more than 2 SE above zero, "
        f"{routed['cells_down']} below (no correction for multiple comparisons)."
    )


def _conclusion_sentence(routed: dict, true_sd: float, paired_sd: float, seeds: int) -> str:
    vs_random = routed.get("vs_random", math.nan)
    seeds_needed = (2 * paired_sd / true_sd) ** 2 if true_sd > 0 and math.isfinite(paired_sd) else math.inf
    verdict = "cannot be seen to beat" if abs(routed.get("vs_random", 0.0)) < paired_sd else "differs from"
    gain_ratio = _gain_ratio(routed.get("predicted_gain", math.nan), routed.get("measured_gain", math.nan))
    return (
        f"Conclusion: routing {verdict} a single random mix here (mean paired difference {vs_random:+.4f}, sd "
        f"{paired_sd:.4f} over {seeds} seeds): {gain_ratio}, and even a gain as large as the whole true "
        f"within-budget spread ({true_sd:.4f}) would need {_seeds_needed(seeds_needed)} to stand 2 standard "
        "errors clear of a single random mix."
    )


def _gain_ratio(predicted: float, measured: float) -> str:
    """The predicted-to-measured gain ratio in words; never "infx" when nothing was measured."""
    if math.isfinite(predicted) and math.isfinite(measured) and measured > 0:
        return f"the PPM's predicted gains are {predicted / measured:.1f}x what is measured"
    return f"the PPM predicts a gain of {predicted:+.4f} where the measured gain is {measured:+.4f} (none)"


def _seeds_needed(need: float) -> str:
    return (
        f"about {need:.0f} seeds" if math.isfinite(need) else "more seeds than any run can have (no spread)"
    )


def _f(x: float, spec: str) -> str:
    return format(x, spec) if x is not None and math.isfinite(x) else "n/a"


def format_diagnosis(diag: dict) -> str:
    """The diagnosis as a table per objective: one row per budget and routed strategy, then a row for all
    budgets and the conclusion's sentences."""
    lines = ["diagnosis: why routed and random mixes of the same budget do (not) differ"]
    for objective, per_objective in diag.items():
        lines += _objective_lines(objective, per_objective)
    lines.append(
        "\n(true / noise sd: between-fold covariance of same-budget candidates' scores on disjoint test folds; "
        "agree: share of a routed mask's humans the other routers also pick (unrelated masks: the budget); "
        "z(tags): rms distance of the routed tag counts from random masks in their sds; gains vs the mean of "
        "uniform masks of the budget; pct p/m: routed percentile among same-budget candidates, predicted / "
        "measured)"
    )
    return "\n".join(lines)


def _objective_lines(objective: str, per_objective: dict) -> list[str]:
    signal = per_objective["signal"]
    lines = [
        f"\nobjective: {objective}   ({per_objective['seeds']} seeds; sds on the score scale)",
        f"{'budget':>7}{'spread sd':>11}{'true sd':>9}{'noise sd':>10}{'reliab.':>9}{'rho within':>12}"
        f"  {'routed':<10}{'agree':>7}{'z(tags)':>9}{'pred gain':>11}{'meas gain':>18}{'pct p/m':>10}",
    ]
    for budget, per_budget in per_objective["budgets"].items():
        lines += _budget_lines(float(budget), per_budget)
    lines.append(
        f"{'all':>7}{_signal_columns(signal)}{_f(per_objective['within_spearman']['mean'], '+12.2f')}   "
        f"Spearman across budgets {_f(per_objective['across_spearman']['mean'], '.2f')}, "
        f"loop held-out {_f(per_objective['ppm_heldout_spearman']['mean'], '.2f')}, "
        f"human share alone {_f(per_objective['share_only_spearman']['mean'], '.2f')}"
    )
    return lines + [f"  - {sentence}" for sentence in per_objective["conclusion"]]


def _signal_columns(signal: dict) -> str:
    return (
        f"{signal['spread_sd']:>11.4f}{signal['true_sd']:>9.4f}{signal['noise_sd']:>10.4f}"
        f"{signal['reliability']:>9.2f}"
    )


def _budget_lines(budget: float, per_budget: dict) -> list[str]:
    """One line per routed strategy; the budget's signal columns on the first."""
    head = f"{budget:>7.0%}{_signal_columns(per_budget['signal'])}{_f(per_budget['within_spearman']['mean'], '+12.2f')}"
    lines = []
    for position, (strategy, routed) in enumerate(per_budget["routed"].items()):
        prefix = head if position == 0 else " " * len(head)
        lines.append(
            f"{prefix}  {strategy:<10}"
            f"{_f(routed['overlap']['mean'], '>7.0%')}{_f(routed['count_z_rms']['mean'], '>9.1f')}"
            f"{_f(routed['predicted_gain']['mean'], '>+11.4f')}"
            f"{_f(routed['measured_gain']['mean'], '>+11.4f')} +- {_f(routed['measured_gain']['sd'], '.3f')}"
            f"{_f(routed['predicted_percentile']['mean'], '>5.0f')}/"
            f"{_f(routed['measured_percentile']['mean'], '<4.0f')}"
        )
    return lines
