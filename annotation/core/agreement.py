"""Agreement statistics (docs/METHOD.md, Agreement). No Django.

Data comes as a *reliability matrix*: one row per rater, one column per unit (instance), ``nan`` where a rater
did not label a unit. The statistics themselves come from maintained libraries (scikit-learn's
``cohen_kappa_score``, the ``krippendorff`` package); this module shapes the project's labels for them and
adds the project's own summaries.

* :func:`weighted_kappa` - Cohen's kappa for two raters, unweighted / linear / quadratic (scikit-learn).
* :func:`pairwise_kappa` - kappa for every pair of raters on the units both labelled, and their mean.
* :func:`krippendorff_alpha` - nominal / ordinal / interval / ratio, any number of raters, missing values
  (the ``krippendorff`` package).
* :func:`percent_agreement` - share of agreeing pairable values within units.
* :func:`rater_vs_reference` - one rater (an LM judge) against a reference label (the human majority).
* :func:`annotator_stats` - per annotator: agreement with the others, gold accuracy, median time, left/right bias.
* :func:`agreement_by_group` - the same statistics per tag value.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

LEVELS = ("nominal", "ordinal", "interval", "ratio")


# ---------------------------------------------------------------------------------------------- helpers


def reliability_matrix(
    records: Iterable[tuple[Hashable, Hashable, float | None]],
) -> tuple[np.ndarray, list[Hashable], list[Hashable]]:
    """(unit, rater, value) triples -> (raters x units matrix with nan for missing, raters, units)."""
    rater_index: dict[Hashable, int] = {}
    unit_index: dict[Hashable, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for unit, rater, value in records:
        r = rater_index.setdefault(rater, len(rater_index))
        u = unit_index.setdefault(unit, len(unit_index))
        rows.append(r)
        cols.append(u)
        values.append(np.nan if value is None else float(value))
    matrix = np.full((len(rater_index), len(unit_index)), np.nan)
    if rows:
        matrix[np.asarray(rows), np.asarray(cols)] = np.asarray(values)
    return matrix, list(rater_index), list(unit_index)


def _as_matrix(data: Any) -> np.ndarray:
    matrix = np.asarray(data, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"reliability data must be 2-D (raters x units), got shape {matrix.shape}")
    return matrix


def _value_counts(matrix: np.ndarray, domain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Units x values count table n_uc and the sorted value domain."""
    present = ~np.isnan(matrix)
    values = matrix[present]
    if domain is None:
        domain = np.unique(values)
    else:
        domain = np.asarray(sorted(domain), dtype=float)
        unknown = np.setdiff1d(np.unique(values), domain)
        if unknown.size:
            raise ValueError(f"values {unknown.tolist()} are not in the value domain {domain.tolist()}")
    units = np.nonzero(present)[1]
    codes = np.searchsorted(domain, values)
    counts = np.zeros((matrix.shape[1], len(domain)))
    np.add.at(counts, (units, codes), 1)
    return counts, domain


# ------------------------------------------------------------------------------------------ Cohen's kappa


def weighted_kappa(
    a: Sequence[float],
    b: Sequence[float],
    weights: str | None = "quadratic",
    labels: Sequence[float] | None = None,
) -> float:
    """Cohen's kappa of two raters over the same units (quadratic-weighted by default), by scikit-learn.

    Weights are by position in the sorted label list; pass ``labels`` (e.g. the full -3..+3 scale) to fix that
    list. Returns nan when kappa is undefined (fewer than two labels, or no expected disagreement).
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"kappa needs two 1-D label arrays of equal length, got {x.shape} and {y.shape}")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("kappa inputs contain missing values; pass only units both raters labelled")
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    observed = np.unique(np.concatenate([x, y]))
    domain = observed if labels is None else np.asarray(sorted(labels), dtype=float)
    if not np.isin(observed, domain).all():
        raise ValueError(f"labels outside the given label list {domain.tolist()}")
    if len(observed) < 2:
        return math.nan
    kappa = cohen_kappa_score(x, y, labels=domain, weights=weights, replace_undefined_by=math.nan)
    return float(kappa)


@dataclass
class PairwiseKappa:
    pairs: dict[tuple[Hashable, Hashable], tuple[float, int]]  # (kappa, units in common)
    mean: float
    weighted_mean: float  # by units in common


def pairwise_kappa(
    data: Any,
    raters: Sequence[Hashable] | None = None,
    weights: str | None = "quadratic",
    labels: Sequence[float] | None = None,
    min_overlap: int = 2,
) -> PairwiseKappa:
    """Kappa for every pair of raters on the units both labelled; pairs with < ``min_overlap`` are skipped."""
    matrix = _as_matrix(data)
    names = list(raters) if raters is not None else list(range(matrix.shape[0]))
    present = ~np.isnan(matrix)
    pairs: dict[tuple[Hashable, Hashable], tuple[float, int]] = {}
    for i, j in combinations(range(matrix.shape[0]), 2):
        both = present[i] & present[j]
        overlap = int(both.sum())
        if overlap < min_overlap:
            continue
        kappa = weighted_kappa(matrix[i, both], matrix[j, both], weights=weights, labels=labels)
        if not math.isnan(kappa):
            pairs[(names[i], names[j])] = (kappa, overlap)
    if not pairs:
        return PairwiseKappa(pairs, math.nan, math.nan)
    kappas = np.array([k for k, _ in pairs.values()])
    counts = np.array([c for _, c in pairs.values()], dtype=float)
    return PairwiseKappa(pairs, float(kappas.mean()), float((kappas * counts).sum() / counts.sum()))


# -------------------------------------------------------------------------------------- Krippendorff's alpha


def krippendorff_alpha(
    data: Any, level: str = "interval", value_domain: Sequence[float] | None = None
) -> float:
    """Krippendorff's alpha for a raters x units matrix (nan = missing), by the ``krippendorff`` package.

    ``level``: nominal, ordinal, interval or ratio. ``value_domain`` lists every value the scale allows (it
    matters for the ordinal metric only through the marginals, so unused values change nothing); by
    default the values observed. Returns nan when there is nothing to measure: fewer than two distinct
    values, or no unit labelled by two raters.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    matrix = _as_matrix(data)
    counts, domain = _value_counts(matrix, None if value_domain is None else np.asarray(value_domain))
    if len(np.unique(matrix[~np.isnan(matrix)])) < 2 or not (counts.sum(axis=1) >= 2).any():
        return math.nan
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level, value_domain=domain))


# ----------------------------------------------------------------------------------- percent agreement


def percent_agreement(data: Any) -> float:
    """Mean over units (with >= 2 values) of the share of agreeing pairs of values within the unit."""
    counts, _ = _value_counts(_as_matrix(data))
    m = counts.sum(axis=1)
    pairable = m >= 2
    if not pairable.any():
        return math.nan
    agreeing = (counts[pairable] * (counts[pairable] - 1)).sum(axis=1)
    return float((agreeing / (m[pairable] * (m[pairable] - 1))).mean())


def unanimous_share(data: Any) -> tuple[int, int]:
    """(units where all values agree, units with >= 2 values)."""
    counts, _ = _value_counts(_as_matrix(data))
    m = counts.sum(axis=1)
    pairable = m >= 2
    return int((counts[pairable].max(axis=1) == m[pairable]).sum()), int(pairable.sum())


# ------------------------------------------------------------------------------------- rater vs reference


@dataclass
class ReferenceAgreement:
    agreement: float  # share of the counted units where the rater equals the reference
    units: int  # units counted
    agreeing: int
    missing: int  # counted units with no rater value (disagreements when missing_as_disagreement)
    kappa: float  # unweighted kappa on units where both have a value


def rater_vs_reference(
    rater: Sequence[float | None],
    reference: Sequence[float | None],
    skip_reference: Iterable[float] = (),
    missing_as_disagreement: bool = True,
) -> ReferenceAgreement:
    """A rater (e.g. an LM judge, as sign of its preference) against a reference (e.g. the human majority).

    Units with no reference value, or a reference in ``skip_reference`` (e.g. ``{0}``: the non-tie items),
    are not counted. A missing rater value is a disagreement (PandaLM's "garbage" verdicts) unless
    ``missing_as_disagreement=False``, where such units are not counted.
    """
    r = np.array([np.nan if v is None else float(v) for v in rater])
    ref = np.array([np.nan if v is None else float(v) for v in reference])
    if r.shape != ref.shape:
        raise ValueError(f"rater has {r.size} values, reference {ref.size}")
    counted = ~np.isnan(ref)
    skip = list(skip_reference)
    if skip:
        counted &= ~np.isin(ref, skip)
    if not missing_as_disagreement:
        counted &= ~np.isnan(r)
    missing = int((counted & np.isnan(r)).sum())
    agree = int((counted & (r == ref)).sum())
    units = int(counted.sum())
    both = counted & ~np.isnan(r)
    kappa = weighted_kappa(r[both], ref[both], weights=None) if both.sum() >= 2 else math.nan
    return ReferenceAgreement(agree / units if units else math.nan, units, agree, missing, kappa)


# -------------------------------------------------------------------------------------- per annotator


@dataclass
class AnnotatorRecord:
    """One label for per-annotator statistics. ``value`` is the canonical direction (-1 / 0 / +1)."""

    unit: Hashable
    annotator: Hashable
    value: int | None
    shown_swapped: bool = False
    time_ms: int | None = None
    gold: int | None = None  # the known answer's direction, for gold items


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def annotator_stats(records: Sequence[AnnotatorRecord]) -> dict[Hashable, dict[str, Any]]:
    """Per annotator: labels, agreement with the others, gold accuracy, median time, left/right bias.

    * ``agreement_with_others``: share of this annotator's labels equal to the majority direction of the
      *other* annotators of the same unit (units where the others tie or nobody else labelled are left out);
    * ``pairwise_agreement``: share of agreeing (this annotator, other annotator) pairs on shared units;
    * ``gold_accuracy``: share of gold items answered with the known direction;
    * ``left_rate``: of the non-tie choices, the share for the response shown on the left (first). Without a
      position bias it is near 0.5; ``left_bias_p`` is the two-sided binomial test p-value.
    """
    by_unit: dict[Hashable, list[AnnotatorRecord]] = defaultdict(list)
    for record in records:
        if record.value is not None:
            by_unit[record.unit].append(record)
    stats: dict[Hashable, dict[str, Any]] = defaultdict(
        lambda: {
            "labels": 0,
            "vs_others": [0, 0],
            "pairs": [0, 0],
            "gold": [0, 0],
            "times": [],
            "left": [0, 0],
        }
    )
    for unit_records in by_unit.values():
        directions = [_sign(record.value) for record in unit_records]  # type: ignore[arg-type]
        for position, record in enumerate(unit_records):
            tally = stats[record.annotator]
            tally["labels"] += 1
            mine = directions[position]
            others = directions[:position] + directions[position + 1 :]
            if others:
                _tally_agreement(tally, mine, others)
            if record.gold is not None:
                tally["gold"][0] += _sign(record.gold) == mine
                tally["gold"][1] += 1
            if record.time_ms is not None:
                tally["times"].append(record.time_ms)
            if mine != 0:
                # Left is response_a unless the order was swapped; canonical A is a negative preference.
                chose_left = (mine < 0) != bool(record.shown_swapped)
                tally["left"][0] += chose_left
                tally["left"][1] += 1
    return {annotator: _finish_annotator(tally) for annotator, tally in stats.items()}


def _tally_agreement(tally: dict[str, Any], mine: int, others: list[int]) -> None:
    """Count agreement with each other annotator of the unit, and with their majority when it is unique."""
    tally["pairs"][0] += sum(other == mine for other in others)
    tally["pairs"][1] += len(others)
    votes = Counter(others)
    top = max(votes.values())
    leaders = [direction for direction, count in votes.items() if count == top]
    if len(leaders) == 1:
        tally["vs_others"][0] += leaders[0] == mine
        tally["vs_others"][1] += 1


def _ratio(pair: list[int]) -> float | None:
    return pair[0] / pair[1] if pair[1] else None


def _finish_annotator(tally: dict[str, Any]) -> dict[str, Any]:
    left, decided = tally["left"]
    return {
        "labels": tally["labels"],
        "agreement_with_others": _ratio(tally["vs_others"]),
        "units_compared": tally["vs_others"][1],
        "pairwise_agreement": _ratio(tally["pairs"]),
        "gold_accuracy": _ratio(tally["gold"]),
        "gold_items": tally["gold"][1],
        "median_time_ms": float(np.median(tally["times"])) if tally["times"] else None,
        "left_rate": left / decided if decided else None,
        "left_bias_p": float(binomtest(left, decided, 0.5).pvalue) if decided else None,
    }


# --------------------------------------------------------------------------------------------- per group


def agreement_summary(data: Any, level: str = "nominal") -> dict[str, Any]:
    """Percent agreement, unanimity, Krippendorff's alpha and mean pairwise kappa of one matrix."""
    matrix = _as_matrix(data)
    unanimous, pairable = unanimous_share(matrix) if matrix.size else (0, 0)
    return {
        "units": pairable,
        "unanimous": unanimous,
        "percent_agreement": percent_agreement(matrix) if pairable else math.nan,
        "alpha": krippendorff_alpha(matrix, level=level) if pairable else math.nan,
        "mean_pairwise_kappa": pairwise_kappa(matrix, weights=None).mean if pairable else math.nan,
    }


def agreement_by_group(
    data: Any,
    groups: Mapping[Hashable, Sequence[int]],
    level: str = "nominal",
    reference: Sequence[float | None] | None = None,
    rater: Sequence[float | None] | None = None,
    skip_reference: Iterable[float] = (),
) -> dict[Hashable, dict[str, Any]]:
    """Agreement statistics per group of units (e.g. per tag value: column indices of its instances).

    With ``rater`` and ``reference`` (e.g. an LM judge and the human majority, aligned with the columns),
    each group also gets the rater-vs-reference agreement.
    """
    matrix = _as_matrix(data)
    skip = list(skip_reference)
    out: dict[Hashable, dict[str, Any]] = {}
    for name, columns in groups.items():
        cols = np.asarray(columns, dtype=int)
        summary = agreement_summary(matrix[:, cols], level=level)
        if rater is not None and reference is not None:
            vs = rater_vs_reference([rater[c] for c in cols], [reference[c] for c in cols], skip)
            summary.update({"rater_agreement": vs.agreement, "rater_units": vs.units})
        out[name] = summary
    return out
