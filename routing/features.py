"""From routing masks to the PPM's feature vectors (docs/METHOD.md, Candidates and features).

A mask m over the pool P (1 = human label used) has the per-tag count vector v = T^T m. Recommended mode
feeds the PPM v / |P| plus the human share |m| / |P| (size-free, so a PPM carries over to another dataset
size); paper mode feeds raw counts built the authors' way: inclusive bin edges, and the four length tags
re-ranked inside the human subset (which pins their 12 features to about |H|/3 whatever was routed). Both
quirks are switched by the Mode and implemented only here.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from routing.binning import EDGES, TEXTUAL_FEATURES, TagTable
from routing.config import RECOMMENDED, Mode
from routing.textual import LENGTH_TAGS, TAG_NAMES

HUMAN_SHARE = "human_share"


def inclusive_bins(values: np.ndarray, edges: tuple[float, ...] = EDGES) -> np.ndarray:
    """The authors' counting membership: value in [lo, hi] for each bin, so a value on an inner edge is in
    two bins and a value outside [0, 1] in none."""
    v = np.asarray(values, dtype=np.float64)[:, None]
    lo = np.asarray(edges[:-1])[None, :]
    hi = np.asarray(edges[1:])[None, :]
    return (v >= lo) & (v <= hi)


class FeatureBuilder:
    """Maps K x N masks to K x F' PPM inputs for one pool and one mode."""

    def __init__(self, table: TagTable, mode: Mode = RECOMMENDED) -> None:
        self.table = table
        self.mode = mode
        self.T = table.matrix(mode.uncertainty_tags)
        self.n = self.T.shape[0]
        if self.n == 0:
            raise ValueError("FeatureBuilder: empty pool")
        self.tag_names = table.names(mode.uncertainty_tags)
        self.feature_names = self.tag_names + ([HUMAN_SHARE] if mode.human_share_feature else [])
        self._length_cols = [
            i for i, name in enumerate(TEXTUAL_FEATURES) if name.split(":")[0] in LENGTH_TAGS
        ]
        self.T_count = self._count_matrix().astype(np.float32)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def _count_matrix(self) -> np.ndarray:
        """The matrix whose product with a mask gives counts (paper: inclusive edges on similarity tags)."""
        if not self.mode.inclusive_count_edges:
            return self.T
        T = self.T.copy()
        for j, tag in enumerate(TAG_NAMES):
            if tag not in LENGTH_TAGS:
                T[:, 3 * j : 3 * j + 3] = inclusive_bins(self.table.textual[tag])
        return T

    def counts(self, masks: np.ndarray) -> np.ndarray:
        """K x F tag counts of the human-routed instances of each mask (one matrix product)."""
        M = self._masks(masks)
        V = M.astype(np.float32) @ self.T_count
        if self.mode.rerank_lengths_in_human_subset:
            V[:, self._length_cols] = self._reranked_length_counts(M)
        return V

    def _reranked_length_counts(self, M: np.ndarray) -> np.ndarray:
        """Paper quirk: percentile ranks of the lengths recomputed inside each human subset, inclusive bins."""
        out = np.zeros((M.shape[0], len(self._length_cols)), dtype=np.float32)
        for k in range(M.shape[0]):
            rows = np.nonzero(M[k])[0]
            if rows.size == 0:
                continue
            cols = []
            for tag in LENGTH_TAGS:
                pct = rankdata(self.table.textual[tag][rows], method="average") / rows.size
                cols.append(inclusive_bins(pct).sum(axis=0))
            out[k] = np.concatenate(cols)
        return out

    def from_counts(self, counts: np.ndarray, n_human: np.ndarray) -> np.ndarray:
        """PPM input from counts and human-set sizes (the mode decides proportions and the share column)."""
        V = np.asarray(counts, dtype=np.float64)
        if self.mode.features == "proportions":
            V = V / self.n
        if self.mode.human_share_feature:
            share = np.asarray(n_human, dtype=np.float64).reshape(-1, 1) / self.n
            V = np.concatenate([V, share], axis=1)
        return V

    def transform(self, masks: np.ndarray) -> np.ndarray:
        """K x F' PPM inputs for K masks."""
        M = self._masks(masks)
        return self.from_counts(self.counts(M), M.sum(axis=1))

    def deltas(self) -> np.ndarray:
        """N x F' matrix D with transform(m) = m @ D for the linear part: what routing instance i adds.

        Exact in recommended mode; in paper mode the re-ranked length features grow by 1/3 per instance per
        bin (about |H|/3 each), which is what the quirk amounts to.
        """
        D = self.T_count.astype(np.float64).copy()
        if self.mode.rerank_lengths_in_human_subset:
            D[:, self._length_cols] = 1.0 / 3.0
        if self.mode.features == "proportions":
            D /= self.n
        if self.mode.human_share_feature:
            D = np.concatenate([D, np.full((self.n, 1), 1.0 / self.n)], axis=1)
        return D

    def _masks(self, masks: np.ndarray) -> np.ndarray:
        M = np.asarray(masks)
        if M.ndim == 1:
            M = M[None, :]
        if M.ndim != 2 or M.shape[1] != self.n:
            raise ValueError(f"masks of shape {np.shape(masks)}: expected (K, {self.n})")
        return M.astype(bool, copy=False)
