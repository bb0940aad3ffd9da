"""LM-uncertainty tags: what the LM judges' own answers say about how far to trust their label. No Django.

The paper's tags describe the prompt and the responses; none of them sees where the LM label is likely wrong,
and routing can only beat a random mix by sending people the instances the LM gets wrong. The judges' own
answers carry that signal before any person has labelled anything: an LM label that one judge contradicts
in the other response order, that a second judge contradicts, that was stated as only "slightly" better, or
that won by a thin log-probability margin is much less often the human majority's (docs/ROUTING.md gives
the PandaLM figures).

Everything here reads *LM judgments only*: a :class:`JudgeReading` has no field for a human label, so no
uncertainty column can depend on one. Each signal becomes a few boolean columns (binned like the paper's
tags), appended to the tag matrix when ``Mode.uncertainty_tags`` is on:

- ``lm-order:agree`` / ``lm-order:disagree``: the primary judge's two response orders, same direction or not
  (no column fires when it was asked in one order only);
- ``lm-judges:agree`` / ``lm-judges:split`` / ``lm-judges:oppose``: every other judge gives the primary's
  direction / some other judge says tie (none opposes) / some other judge prefers the other response;
- ``lm-strength:slight`` / ``lm-strength:clear``: the primary label's magnitude (1, or 2 and more, on the
  5- or 7-point scale; a plain A/B label counts as slight);
- ``lm-margin:low`` / ``lm-margin:mid`` / ``lm-margin:high``: the primary judge's log-probability margin
  between its top two labels (mean over orders), binned at tertile edges fitted once on the whole dataset,
  like the length tags (no column fires where the backend returned no probabilities).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ORDER_NAMES = ("lm-order:agree", "lm-order:disagree")
JUDGES_NAMES = ("lm-judges:agree", "lm-judges:split", "lm-judges:oppose")
STRENGTH_NAMES = ("lm-strength:slight", "lm-strength:clear")
MARGIN_NAMES = ("lm-margin:low", "lm-margin:mid", "lm-margin:high")
UNCERTAINTY_FEATURES: tuple[str, ...] = ORDER_NAMES + JUDGES_NAMES + STRENGTH_NAMES + MARGIN_NAMES


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@dataclass(frozen=True)
class JudgeReading:
    """What one LM judge said about one instance (canonical order, docs/CONVENTIONS.md).

    ``preference``: the reconciled label (None: no label). ``orders``: the verdicts asked with response_a
    shown first and with response_b shown first, when the judge was asked in both orders (None inside
    when an order did not parse). ``margin``: log-probability margin between its top two labels, mean over
    the orders that returned probabilities (None when none did).
    """

    judge: str
    preference: int | None
    orders: tuple[int | None, int | None] | None = None
    margin: float | None = None


def margin_of(probabilities: Mapping[str, float] | None, confidence: float | None = None) -> float | None:
    """Log-probability margin log p1 - log p2 of the top two labels; from the winner's probability alone
    (two-way log-odds) when only that is known; None when nothing is known."""
    if probabilities:
        p = sorted((float(v) for v in probabilities.values() if v is not None), reverse=True)
        if len(p) >= 2 and p[0] > 0:
            return math.log(p[0]) - math.log(max(p[1], 1e-12))
    if confidence is not None and 0 < confidence < 1:
        return math.log(confidence) - math.log(1 - confidence)
    if confidence is not None and confidence >= 1:
        return math.log(1e12)
    return None


def order_columns(primary: JudgeReading | None) -> list[bool]:
    if primary is None or primary.orders is None or None in primary.orders:
        return [False, False]
    ab, ba = primary.orders
    same = _sign(ab) == _sign(ba)  # type: ignore[arg-type]
    return [same, not same]


def judges_columns(primary: JudgeReading | None, others: Sequence[JudgeReading]) -> list[bool]:
    if primary is None or primary.preference is None:
        return [False, False, False]
    direction = _sign(primary.preference)
    seen = [_sign(o.preference) for o in others if o.preference is not None]
    if not seen:
        return [False, False, False]
    oppose = any(s != direction and s != 0 for s in seen) or (direction == 0 and any(s != 0 for s in seen))
    split = not oppose and any(s != direction for s in seen)
    return [not oppose and not split, split, oppose]


def strength_columns(primary: JudgeReading | None) -> list[bool]:
    if primary is None or primary.preference is None or primary.preference == 0:
        return [False, False]
    clear = abs(primary.preference) >= 2
    return [not clear, clear]


@dataclass(frozen=True)
class MarginEdges:
    """Tertile edges of the primary judge's margins, fitted once on a whole dataset (kept when it is
    subset or routed again, so an instance never changes bin)."""

    low: float
    high: float

    @classmethod
    def fit(cls, margins: Sequence[float | None]) -> MarginEdges | None:
        values = np.array([m for m in margins if m is not None and math.isfinite(m)], dtype=np.float64)
        if values.size < 3:
            return None
        q1, q2 = np.quantile(values, [1 / 3, 2 / 3])
        return cls(float(q1), float(q2))

    def columns(self, margin: float | None) -> list[bool]:
        if margin is None or not math.isfinite(margin):
            return [False, False, False]
        k = 0 if margin < self.low else (1 if margin < self.high else 2)
        return [k == 0, k == 1, k == 2]


@dataclass
class UncertaintyTable:
    """N x U boolean matrix of the uncertainty tags, columns in :data:`UNCERTAINTY_FEATURES` order."""

    matrix: np.ndarray
    primary: str
    judges: tuple[str, ...]
    margin_edges: MarginEdges | None = None

    names: tuple[str, ...] = UNCERTAINTY_FEATURES

    def subset(self, rows: np.ndarray) -> UncertaintyTable:
        return UncertaintyTable(
            self.matrix[np.asarray(rows)], self.primary, self.judges, self.margin_edges, self.names
        )

    def summary(self) -> dict[str, int]:
        """How many instances carry each column (what a report prints)."""
        return {name: int(n) for name, n in zip(self.names, self.matrix.sum(axis=0), strict=True)}


def uncertainty_table(
    readings: Sequence[Mapping[str, JudgeReading]],
    primary: str,
    margin_edges: MarginEdges | None = None,
) -> UncertaintyTable:
    """The uncertainty tags of N instances from their judges' readings (judge name -> reading).

    ``primary`` is the judge whose label the LM side of the dataset uses; the other judges only say whether
    they agree with it. Margin edges are fitted on these instances unless given.
    """
    if not primary:
        raise ValueError("uncertainty_table: name the primary LM judge (whose label the dataset uses)")
    judges = sorted({name for r in readings for name in r})
    prim = [r.get(primary) for r in readings]
    if margin_edges is None:
        margin_edges = MarginEdges.fit([p.margin if p is not None else None for p in prim])
    rows = []
    for reading, p in zip(readings, prim, strict=True):
        others = [v for name, v in reading.items() if name != primary]
        margin = margin_edges.columns(p.margin if p is not None else None) if margin_edges else [False] * 3
        rows.append(order_columns(p) + judges_columns(p, others) + strength_columns(p) + margin)
    matrix = np.array(rows, dtype=bool).reshape(len(readings), len(UNCERTAINTY_FEATURES))
    return UncertaintyTable(matrix, primary, tuple(judges), margin_edges)


def readings_from_labels(labels: Mapping[str, int | None]) -> dict[str, JudgeReading]:
    """Readings of judges known only by one label each (a plain file's ``lm_labels``: one order, no
    probabilities)."""
    return {name: JudgeReading(name, value) for name, value in labels.items()}


__all__ = [
    "JudgeReading",
    "MarginEdges",
    "UNCERTAINTY_FEATURES",
    "UncertaintyTable",
    "margin_of",
    "readings_from_labels",
    "uncertainty_table",
]
