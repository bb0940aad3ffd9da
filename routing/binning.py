"""Binning and the instance x tag boolean matrix (docs/METHOD.md: Textual tags, Candidates and features).

One rule everywhere (recommended): three half-open bins [0, .33), [.33, .67), [.67, 1] on the raw value of
the five similarity scores, values below 0 in the first bin and above 1 in the last; the four length
features are binned on their percentile rank in the whole dataset, i.e. on raw-length edges at the 33rd and
67th percentiles fitted once (:class:`LengthEdges`) and stored with the dataset, so an instance never
changes bin. The authors' counting quirks (inclusive edges, lengths re-ranked inside the human subset) live
in :mod:`routing.features`, behind the Mode switches, and only there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from routing.descriptive import DESCRIPTIVE_FEATURES, features_of
from routing.textual import LENGTH_TAGS, TAG_NAMES
from routing.uncertainty import UncertaintyTable

EDGES = (0.0, 0.33, 0.67, 1.0)
N_BINS = 3


def bin_labels(tag: str) -> list[str]:
    """Feature names of a textual tag's three bins, e.g. ``bertscore:[0.33,0.67)``."""
    return [f"{tag}:[0.00,0.33)", f"{tag}:[0.33,0.67)", f"{tag}:[0.67,1.00]"]


TEXTUAL_FEATURES: tuple[str, ...] = tuple(f for tag in TAG_NAMES for f in bin_labels(tag))
PAPER_FEATURES: tuple[str, ...] = TEXTUAL_FEATURES + DESCRIPTIVE_FEATURES  # the paper's 90


def bin_index(values: np.ndarray | Sequence[float], edges: Sequence[float] = EDGES) -> np.ndarray:
    """Bin of each value under the one rule: half-open, last bin closed, out-of-range clamped. NaN -> -1."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(np.asarray(edges[1:-1], dtype=np.float64), v, side="right").astype(np.int64)
    idx[np.isnan(v)] = -1
    return idx


def one_hot(idx: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """N x n_bins boolean matrix; rows with index -1 (missing value) are all False."""
    out = np.zeros((len(idx), n_bins), dtype=bool)
    ok = idx >= 0
    out[np.nonzero(ok)[0], idx[ok]] = True
    return out


@dataclass(frozen=True)
class LengthEdges:
    """Raw-length edges at the 33rd and 67th percentiles of each length tag, fitted once per dataset."""

    edges: dict[str, tuple[float, float]]
    n: int = 0

    @classmethod
    def fit(cls, textual: Mapping[str, np.ndarray]) -> LengthEdges:
        edges = {}
        n = 0
        for tag in LENGTH_TAGS:
            if tag not in textual:
                raise ValueError(f"LengthEdges.fit: length tag {tag!r} missing from the textual values")
            v = np.asarray(textual[tag], dtype=np.float64)
            v = v[~np.isnan(v)]
            if v.size == 0:
                raise ValueError(f"LengthEdges.fit: no values for {tag!r}")
            q1, q2 = np.quantile(v, [EDGES[1], EDGES[2]])
            edges[tag] = (float(q1), float(q2))
            n = max(n, int(v.size))
        return cls(edges, n)

    def bin(self, tag: str, values: np.ndarray) -> np.ndarray:
        lo, hi = self.edges[tag]
        return bin_index(values, (-np.inf, lo, hi, np.inf))

    def to_json(self) -> str:
        return json.dumps({"edges": {k: list(v) for k, v in self.edges.items()}, "n": self.n})

    @classmethod
    def from_json(cls, text: str | dict) -> LengthEdges:
        data = json.loads(text) if isinstance(text, str) else text
        return cls({k: (float(v[0]), float(v[1])) for k, v in data["edges"].items()}, int(data.get("n", 0)))


def textual_bins(textual: Mapping[str, np.ndarray], edges: LengthEdges) -> np.ndarray:
    """N x 27 boolean matrix of the textual bins, columns in :data:`TEXTUAL_FEATURES` order."""
    cols = []
    for tag in TAG_NAMES:
        if tag not in textual:
            raise ValueError(f"textual value {tag!r} missing: expected all of {TAG_NAMES}")
        values = np.asarray(textual[tag], dtype=np.float64)
        idx = edges.bin(tag, values) if tag in LENGTH_TAGS else bin_index(values)
        cols.append(one_hot(idx))
    return np.concatenate(cols, axis=1)


def descriptive_row(answers: Mapping | None, names: Sequence[str] = DESCRIPTIVE_FEATURES) -> list[bool]:
    """One instance's descriptive features in ``names`` order, from its tagger answers (None: none fire)."""
    feats = features_of(answers)  # type: ignore[arg-type]
    return [feats.get(name, False) for name in names]


@dataclass
class TagTable:
    """Everything known about the tags of a pool: raw textual values, descriptive features, length edges.

    ``matrix()`` is the N x F boolean matrix T under the one binning rule; paper-mode counting reads the raw
    values from here too. ``uncertainty`` (optional) holds the LM-uncertainty tags (:mod:`routing.uncertainty`),
    appended after the paper's columns when asked for (``Mode.uncertainty_tags``).
    """

    instance_ids: list
    textual: dict[str, np.ndarray]
    descriptive: np.ndarray  # N x D bool
    descriptive_names: tuple[str, ...] = DESCRIPTIVE_FEATURES
    edges: LengthEdges | None = None
    tag_versions: dict[str, str] = field(default_factory=dict)
    uncertainty: UncertaintyTable | None = None

    def __post_init__(self) -> None:
        n = len(self.instance_ids)
        if self.uncertainty is not None and self.uncertainty.matrix.shape[0] != n:
            raise ValueError(
                f"TagTable: {self.uncertainty.matrix.shape[0]} rows of uncertainty tags for {n} instances"
            )
        for tag, v in self.textual.items():
            if len(v) != n:
                raise ValueError(f"TagTable: textual {tag!r} has {len(v)} values for {n} instances")
        self.descriptive = np.asarray(self.descriptive, dtype=bool).reshape(n, len(self.descriptive_names))
        if self.edges is None:
            self.edges = LengthEdges.fit(self.textual)

    @classmethod
    def build(
        cls,
        instance_ids: Sequence,
        textual: Mapping[str, np.ndarray],
        answers: Sequence[Mapping | None] | None = None,
        descriptive_names: Sequence[str] = DESCRIPTIVE_FEATURES,
        edges: LengthEdges | None = None,
        tag_versions: Mapping[str, str] | None = None,
        uncertainty: UncertaintyTable | None = None,
    ) -> TagTable:
        """From raw textual values and per-instance tagger answers (None = no record: no feature fires)."""
        n = len(instance_ids)
        answers = answers if answers is not None else [None] * n
        if len(answers) != n:
            raise ValueError(f"TagTable.build: {len(answers)} answer dicts for {n} instances")
        names = tuple(descriptive_names)
        desc = np.zeros((n, len(names)), dtype=bool)
        for i, a in enumerate(answers):
            if a is not None:  # no record: no feature fires (a million Nones cost nothing)
                desc[i] = descriptive_row(a, names)
        textual = {k: np.asarray(v, dtype=np.float64) for k, v in textual.items()}
        return cls(list(instance_ids), textual, desc, names, edges, dict(tag_versions or {}), uncertainty)

    @property
    def feature_names(self) -> list[str]:
        """The paper's columns: textual bins and descriptive features (no uncertainty tags)."""
        return list(TEXTUAL_FEATURES) + list(self.descriptive_names)

    def names(self, with_uncertainty: bool = False) -> list[str]:
        """Column names of :meth:`matrix` called with the same switch."""
        extra = list(self.uncertainty.names) if with_uncertainty and self.uncertainty is not None else []
        return self.feature_names + extra

    def matrix(self, with_uncertainty: bool = False) -> np.ndarray:
        """N x F boolean tag matrix (27 textual bins, the descriptive features, then the uncertainty tags
        when asked for and known)."""
        assert self.edges is not None
        parts = [textual_bins(self.textual, self.edges), self.descriptive]
        if with_uncertainty and self.uncertainty is not None:
            parts.append(self.uncertainty.matrix)
        return np.concatenate(parts, axis=1)

    def with_uncertainty(self, uncertainty: UncertaintyTable | None) -> TagTable:
        """The same table with these uncertainty tags (one row per instance, in order)."""
        return TagTable(
            self.instance_ids,
            self.textual,
            self.descriptive,
            self.descriptive_names,
            self.edges,
            dict(self.tag_versions),
            uncertainty,
        )

    def subset(self, rows: np.ndarray) -> TagTable:
        """The same table restricted to ``rows`` (edges kept: fitted once on the whole dataset)."""
        rows = np.asarray(rows)
        return TagTable(
            [self.instance_ids[i] for i in rows],
            {k: v[rows] for k, v in self.textual.items()},
            self.descriptive[rows],
            self.descriptive_names,
            self.edges,
            dict(self.tag_versions),
            self.uncertainty.subset(rows) if self.uncertainty is not None else None,
        )
