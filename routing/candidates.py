"""Candidate routing masks, vectorised (docs/METHOD.md, Candidates and features).

All generators return a K x N boolean matrix (True = human label) and take one ``numpy.random.Generator``:
no global random state. Every fixed-budget generator works the same way: draw a K x N priority matrix whose
structure encodes the generator, then keep the b_k highest priorities of row k.

- ``tag_group_fill`` (paper, Algorithm 1): shuffle the tags, walk them in that order adding each tag's
  instances in random order until exactly b are chosen. Priority = position of the first tag (in the
  shuffled order) the instance carries, random within a tag; untagged instances come last.
- ``tag_bernoulli``: per-tag rates r_f ~ Beta(.5, .5); instance weight = mean rate of its tags; b instances
  drawn without replacement proportionally to weight (Efraimidis-Spirakis keys).
- ``uniform``: b instances uniformly at random.

:class:`ChunkedSampler` scores huge numbers of uniform candidates at one budget without drawing K x N
random numbers (drawing them, not the algebra, is what costs time): see its docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routing.config import RECOMMENDED, Mode

KINDS = ("tag_group_fill", "tag_bernoulli", "uniform")


def sample_budgets(
    k: int, n: int, rng: np.random.Generator, low: int = 1, high: int | None = None
) -> np.ndarray:
    """k budgets uniform on [low, high] (default 1..n-1, the paper's Uniform(1, |D|-1))."""
    high = n - 1 if high is None else high
    if not 0 <= low <= high <= n:
        raise ValueError(f"sample_budgets: need 0 <= low ({low}) <= high ({high}) <= n ({n})")
    return rng.integers(low, high + 1, size=k)


def top_b(priority: np.ndarray, budgets: np.ndarray | int) -> np.ndarray:
    """Boolean K x N mask keeping the b_k largest priorities of each row (exactly b_k per row)."""
    K, N = priority.shape
    b = np.broadcast_to(np.asarray(budgets, dtype=np.int64), (K,))
    if np.any(b < 0) or np.any(b > N):
        raise ValueError(f"top_b: budgets must lie in 0..{N}")
    order = np.argsort(-priority, axis=1, kind="stable")
    keep = np.arange(N)[None, :] < b[:, None]
    mask = np.zeros((K, N), dtype=bool)
    np.put_along_axis(mask, order, keep, axis=1)
    return mask


def uniform_masks(n: int, budgets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return top_b(rng.random((len(budgets), n), dtype=np.float32), budgets)


def tag_group_fill_masks(T: np.ndarray, budgets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paper's Algorithm 1, one shuffled tag order per candidate."""
    T = np.asarray(T, dtype=bool)
    N, F = T.shape
    K = len(budgets)
    order = np.argsort(rng.random((K, F)), axis=1)  # order[k, r] = tag walked r-th by candidate k
    first = np.full((K, N), F, dtype=np.float32)  # untagged instances come after every tag
    for r in range(F - 1, -1, -1):  # walking backwards, the earliest tag an instance carries wins
        has = T[:, order[:, r]].T  # K x N
        first[has] = r
    priority = -(first + rng.random((K, N), dtype=np.float32))
    return top_b(priority, budgets)


def tag_bernoulli_masks(T: np.ndarray, budgets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tag-correlated candidates: weight of an instance = mean of per-tag Beta(.5, .5) rates of its tags."""
    T = np.asarray(T, dtype=np.float32)
    K = len(budgets)
    rates = rng.beta(0.5, 0.5, size=(K, T.shape[1])).astype(np.float32)
    n_tags = np.maximum(T.sum(axis=1), 1.0)
    weight = (rates @ T.T) / n_tags[None, :] + 1e-6
    u = rng.random(weight.shape, dtype=np.float32)
    priority = np.log(np.maximum(u, 1e-30)) / weight  # Efraimidis-Spirakis: u ** (1 / w), in logs
    return top_b(priority, budgets)


@dataclass
class Candidates:
    masks: np.ndarray  # K x N bool
    kinds: list[str]

    @property
    def budgets(self) -> np.ndarray:
        return self.masks.sum(axis=1)


def generate_candidates(
    T: np.ndarray,
    k: int,
    rng: np.random.Generator,
    mode: Mode = RECOMMENDED,
    budgets: Sequence[int] | np.ndarray | None = None,
    kinds: Sequence[str] | None = None,
) -> Candidates:
    """k candidate masks for PPM training (or for routing at fixed ``budgets``).

    Paper mode: all tag-group fill, budgets Uniform(1, N-1). Recommended: an even mix of ``mode
    .candidate_kinds`` plus the all-LM and all-human candidates (counted in k).
    """
    T = np.asarray(T, dtype=bool)
    N = T.shape[0]
    kinds = tuple(kinds or mode.candidate_kinds)
    bad = [x for x in kinds if x not in KINDS]
    if bad:
        raise ValueError(f"unknown candidate kinds {bad}: expected some of {KINDS}")
    extremes = mode.include_extremes and budgets is None and k >= 2
    n_draw = k - 2 if extremes else k
    b = np.asarray(budgets, dtype=np.int64) if budgets is not None else sample_budgets(n_draw, N, rng)
    if budgets is not None and len(b) == 1 and n_draw != 1:
        b = np.full(n_draw, int(b[0]))
    if len(b) != n_draw:
        raise ValueError(f"generate_candidates: {len(b)} budgets for {n_draw} candidates")
    which = np.arange(n_draw) % len(kinds)
    rng.shuffle(which)
    masks = np.zeros((n_draw, N), dtype=bool)
    names = [""] * n_draw
    for j, kind in enumerate(kinds):
        rows = np.nonzero(which == j)[0]
        if rows.size == 0:
            continue
        if kind == "uniform":
            masks[rows] = uniform_masks(N, b[rows], rng)
        elif kind == "tag_group_fill":
            masks[rows] = tag_group_fill_masks(T, b[rows], rng)
        else:
            masks[rows] = tag_bernoulli_masks(T, b[rows], rng)
        for r in rows:
            names[r] = kind
    if extremes:
        masks = np.concatenate([np.zeros((1, N), bool), np.ones((1, N), bool), masks])
        names = ["all_lm", "all_human"] + names
    return Candidates(masks, names)


class ChunkedSampler:
    """Counts of many uniformly random size-b human sets at the cost of a small product per candidate.

    Each round draws one permutation of the instances and cuts its first ``n_chunks * s`` positions into
    chunks of s instances (per-chunk tag counts: one O(N F) pass). A candidate is q = b // s whole chunks
    plus the first b - q s instances of one more chunk. Which chunk *positions* each candidate takes is a
    bank of selections drawn once (the trick: a fresh permutation of the instances turns a fixed batch
    of selections into a fresh batch), so a round costs one permutation, one O(N F) pass and one
    (K x n_chunks) @ (n_chunks x F) product. Because the selections are independent of the permutation,
    every candidate is exactly a uniformly random b-subset; candidates of one round share chunks (they are
    not independent), which is why each round has a fresh permutation. For b > N/2 the LM side is sampled
    and subtracted from the totals.
    """

    def __init__(
        self,
        T: np.ndarray,
        budget: int,
        rng: np.random.Generator,
        n_chunks: int = 256,
        per_round: int = 32768,
    ) -> None:
        self.T = np.asarray(T, dtype=np.float32)
        self.N = self.T.shape[0]
        if not 0 <= budget <= self.N:
            raise ValueError(f"ChunkedSampler: budget {budget} outside 0..{self.N}")
        self.budget = int(budget)
        self.rng = rng
        self.per_round = per_round
        self.complement = self.budget > self.N // 2
        self.b = self.N - self.budget if self.complement else self.budget
        self.s = max(1, self.N // n_chunks)
        self.n_chunks = self.N // self.s
        self.q, self.r = divmod(self.b, self.s)
        self.total = self.T.sum(axis=0)
        take = self.q + (1 if self.r else 0)
        if take > self.n_chunks:  # cannot happen for b <= N/2
            raise ValueError("ChunkedSampler: budget too large for the chunking")
        keys = rng.random((per_round, self.n_chunks), dtype=np.float32)
        self.picked = (
            np.argpartition(keys, take - 1, axis=1)[:, :take] if take else np.zeros((per_round, 0), np.int64)
        )
        self.select = np.zeros((per_round, self.n_chunks), dtype=np.float32)
        np.put_along_axis(self.select, self.picked[:, : self.q], 1.0, axis=1)

    def round(self, k: int | None = None) -> tuple[np.ndarray, dict]:
        """Counts (k x F, k <= per_round) of k fresh candidates and what rebuilds any of their masks."""
        k = self.per_round if k is None else min(k, self.per_round)
        perm = self.rng.permutation(self.N)
        used = perm[: self.n_chunks * self.s].reshape(self.n_chunks, self.s)
        Tp = self.T[used]  # n_chunks x s x F
        counts = self.select[:k] @ Tp.sum(axis=1)
        if self.r:
            counts += Tp[:, : self.r].sum(axis=1)[self.picked[:k, self.q]]
        if self.complement:
            counts = self.total[None, :] - counts
        return counts, {"used": used}

    def mask(self, state: dict, row: int) -> np.ndarray:
        """The boolean mask of candidate ``row`` of a round."""
        chunks = self.picked[row]
        members = [state["used"][chunks[: self.q]].ravel()]
        if self.r:
            members.append(state["used"][chunks[self.q], : self.r])
        m = np.zeros(self.N, dtype=bool)
        m[np.concatenate(members)] = True
        return ~m if self.complement else m
