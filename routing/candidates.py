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
    mask = np.zeros((K, N), dtype=bool)
    for value in np.unique(b):  # one partial selection per distinct budget: O(N) per row, no full sort
        rows = np.flatnonzero(b == value)
        if value == 0:
            continue
        if value == N:
            mask[rows] = True
            continue
        top = np.argpartition(-priority[rows], value - 1, axis=1)[:, :value]
        sub = np.zeros((len(rows), N), dtype=bool)
        np.put_along_axis(sub, top, True, axis=1)
        mask[rows] = sub
    return mask


def uniform_masks(n: int, budgets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return top_b(rng.random((len(budgets), n), dtype=np.float32), budgets)


def balanced_uniform_masks(n: int, budget: int, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """``repeats`` uniformly random masks of ``budget`` instances that together route every instance about
    equally often: evenly spaced windows of one random permutation, read round it.

    Each mask alone is a uniformly random set (a fixed window of a uniform permutation), so their mean is an
    unbiased estimate of what a random mix of this budget scores; because every instance is routed in the
    same number of them (exactly when ``budget * repeats`` is a multiple of ``n``), how many of the pool's
    LM errors the random mixes fix is the same every time, and the reference that routed mixes are compared
    with varies less than with independent draws (antithetic sampling: at 50% two of them are complements).
    """
    if not 0 <= budget <= n or repeats < 1:
        raise ValueError(f"balanced_uniform_masks: budget {budget} of {n} instances, {repeats} repeats")
    perm = rng.permutation(n)
    masks = np.zeros((repeats, n), bool)
    for j in range(repeats):
        window = (round(j * n / repeats) + np.arange(budget)) % n
        masks[j, perm[window]] = True
    return masks


def tag_group_fill_masks(T: np.ndarray, budgets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paper's Algorithm 1, one shuffled tag order per candidate."""
    T = np.asarray(T, dtype=bool)
    N, F = T.shape
    K = len(budgets)
    order = np.argsort(rng.random((K, F)), axis=1)  # order[k, r] = tag walked r-th by candidate k
    first = np.full((K, N), F, dtype=np.float32)  # untagged instances come after every tag
    covered = np.zeros(K, dtype=np.int64)
    need = np.broadcast_to(np.asarray(budgets, dtype=np.int64), (K,))
    for r in range(F):  # walk until each row has b instances: later tags cannot change its top b
        rows = np.flatnonzero(covered < need)
        if rows.size == 0:
            break
        sub = first[rows]
        new = T[:, order[rows, r]].T & (sub == F)  # carriers of the r-th tag not reached before
        sub[new] = r
        first[rows] = sub
        covered[rows] += new.sum(axis=1)
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
    bad = [kind for kind in kinds if kind not in KINDS]
    if bad:
        raise ValueError(f"unknown candidate kinds {bad}: expected some of {KINDS}")
    extremes = mode.include_extremes and budgets is None and k >= 2
    n_draw = k - 2 if extremes else k
    drawn_budgets = (
        np.asarray(budgets, dtype=np.int64) if budgets is not None else sample_budgets(n_draw, N, rng)
    )
    if budgets is not None and len(drawn_budgets) == 1 and n_draw != 1:
        drawn_budgets = np.full(n_draw, int(drawn_budgets[0]))
    if len(drawn_budgets) != n_draw:
        raise ValueError(f"generate_candidates: {len(drawn_budgets)} budgets for {n_draw} candidates")
    kind_of_row = np.arange(n_draw) % len(kinds)
    rng.shuffle(kind_of_row)
    masks = np.zeros((n_draw, N), dtype=bool)
    names = [""] * n_draw
    for kind_index, kind in enumerate(kinds):
        rows = np.nonzero(kind_of_row == kind_index)[0]
        if rows.size == 0:
            continue
        if kind == "uniform":
            masks[rows] = uniform_masks(N, drawn_budgets[rows], rng)
        elif kind == "tag_group_fill":
            masks[rows] = tag_group_fill_masks(T, drawn_budgets[rows], rng)
        else:
            masks[rows] = tag_bernoulli_masks(T, drawn_budgets[rows], rng)
        for row in rows:
            names[row] = kind
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


class FillSampler:
    """Algorithm 1's tag-group fill at one budget, scored from tag counts without a mask per candidate.

    Algorithm 1 walks the tags in a random order and adds each tag's instances not chosen yet, in random
    order, until exactly b are chosen. Each round of this sampler draws one tag order and one permutation of
    the instances: under that order an instance belongs to the *group* of its first tag (untagged instances
    form a last group), and walking the round's order group by group is exactly Algorithm 1. The instances are
    laid out group by group (in permuted order inside a group) with the running tag counts along that layout
    (one O(N F) pass per round).

    A candidate walks the groups in its own order, takes whole groups while they fit in the budget, then the
    first instances of the next group. With ``tag_scores`` (what routing instances of each tag is worth to
    the PPM) half the candidates walk orders drawn towards the higher-scored tags (Plackett-Luce, each
    candidate with its own sharpness, from uniform to nearly sorted), so the search spends candidates where
    the PPM sees gain; the other half are as follows. Its order is a rotation of one of ``bases`` uniformly random orders
    drawn per round; a rotation of a uniformly random order is itself uniformly random, so every candidate
    walks a uniformly random order, and with running sums along each (doubled) base order a candidate costs
    one binary search and O(F) additions whatever N is. Candidates of one round share the round's grouping
    and their base orders (they are not independent), which is why every round draws fresh ones. Candidate 0
    of each round walks the round's own order: a plain Algorithm 1 draw. The others take, for each tag they
    walk, the instances whose first tag in the round's order it is, so they stay filled tag by tag (unlike
    uniform sets, whose counts all sit near the mean proportions). Every candidate has exactly b instances;
    :meth:`mask` rebuilds any of them.
    """

    def __init__(
        self,
        T: np.ndarray,
        budget: int,
        rng: np.random.Generator,
        per_round: int = 32768,
        tag_scores: np.ndarray | None = None,
    ) -> None:
        self.T = np.asarray(T, dtype=np.float32)
        self.N, self.F = self.T.shape
        if not 0 <= budget <= self.N:
            raise ValueError(f"FillSampler: budget {budget} outside 0..{self.N}")
        if per_round < 1:
            raise ValueError(f"FillSampler: per_round {per_round} must be at least 1")
        self.budget = int(budget)
        self.rng = rng
        self.G = self.F + 1
        self.per_round = per_round
        self.rank_of = (self.T > 0).astype(np.int16)
        self.tag_scores = None if tag_scores is None else np.append(np.asarray(tag_scores, np.float64), 0.0)
        if self.tag_scores is not None and len(self.tag_scores) != self.G:
            raise ValueError(f"FillSampler: {len(self.tag_scores) - 1} tag scores for {self.F} tags")

    def _layout(self) -> dict:
        """One round's grouping: the layout of instances, group starts and sizes, running counts."""
        rank = self.rng.permutation(self.F).astype(
            np.int16
        )  # rank[j]: position of tag j in the round's order
        # first tag position of each instance: max over its tags of (F - rank), turned back (F: untagged)
        first = (
            self.F - (self.rank_of * (self.F - rank)[None, :]).max(axis=1)
            if self.F
            else np.zeros(self.N, int)
        )
        layout = np.lexsort((self.rng.random(self.N), first))
        start = np.searchsorted(first[layout], np.arange(self.G), side="left")
        size = np.diff(np.append(start, self.N))
        running = np.zeros((self.N + 1, self.F), dtype=np.float32)
        np.cumsum(self.T[layout], axis=0, out=running[1:])
        return {"rank": rank, "layout": layout, "start": start, "size": size, "running": running}

    def round(self, k: int | None = None) -> tuple[np.ndarray, dict]:
        """Counts (k x F, k <= per_round) of k fresh candidates, and what :meth:`mask` needs to rebuild them."""
        k = self.per_round if k is None else max(1, min(k, self.per_round))
        state = self._layout()
        start, size, running = state["start"], state["size"], state["running"]
        group_counts = running[start + size] - running[start]
        groups = np.flatnonzero(size > 0)  # empty groups would only repeat the next group's candidate
        G = len(groups)
        k_guided = k // 2 if self.tag_scores is not None else 0
        k_uniform = k - k_guided
        n_uniform = -(-k_uniform // G)
        keys = self.rng.random((n_uniform, G), dtype=np.float32)
        keys[0] = np.arange(G)  # base 0 is the round's own order
        bases = groups[np.argsort(keys, axis=1)]
        pick = np.arange(
            k_uniform
        )  # candidate j: base j // G rotated by j % G (candidate 0: the round's order)
        base_of, offset = pick // G, pick % G
        if k_guided:
            bases = np.concatenate([bases, self._guided_orders(groups, k_guided)])
            base_of = np.concatenate([base_of, n_uniform + np.arange(k_guided)])
            offset = np.concatenate([offset, np.zeros(k_guided, dtype=offset.dtype)])
        n_bases = len(bases)
        filled = np.zeros((n_bases, G + 1), dtype=np.int64)
        np.cumsum(size[bases], axis=1, out=filled[:, 1:])
        # the rotation's walk is a window [offset, end) of the base order read twice round; its fill is
        # filled[end] - filled[offset] with filled extended by N per lap: one binary search for all rows
        lift = np.arange(n_bases)[:, None] * (3 * self.N + 1)
        laps = np.concatenate([filled, filled[:, 1:] + self.N], axis=1)  # (n_bases, 2G + 1), no copy of F
        flat = (laps + lift).ravel()
        target = filled[base_of, offset] + self.budget + lift[base_of, 0]
        end = np.searchsorted(flat, target, side="right") - 1 - base_of * (2 * G + 1)
        end = np.minimum(end, offset + G)  # every group at most once (only reached when b = N)
        # the whole groups taken, as a (k, G) selection: position in the base order within the window
        place = np.argsort(bases, axis=1).astype(np.int16)  # place[b, j]: where groups[j] sits in base b
        pos = place[base_of]
        o, e = offset.astype(np.int16)[:, None], end.astype(np.int16)[:, None]
        inside = ((pos >= o) & (pos < e)) | (pos < e - G)  # the window [o, e), read round the base order
        window = inside.astype(np.float32) @ group_counts[groups]
        taken = laps[base_of, end] - filled[base_of, offset]
        partial = bases[base_of, np.where(end >= G, end - G, end) % G]
        rest = self.budget - taken
        begin = start[partial]
        counts = window + (running[begin + rest] - running[begin])
        n_full = end - offset
        state.update(bases=bases, base_of=base_of, offset=offset, n_full=n_full, partial=partial, rest=rest)
        return counts, state

    def _guided_orders(self, groups: np.ndarray, k: int) -> np.ndarray:
        """k group orders drawn by Plackett-Luce on the tags' scores (Gumbel keys), each with its own
        sharpness from 0 (a uniform order, Algorithm 1's) to 4 standard deviations per unit of score."""
        score = self.tag_scores[groups]
        z = (score - score.mean()) / (score.std() or 1.0)
        sharp = self.rng.uniform(0.0, 4.0, size=(k, 1))
        gumbel = -np.log(-np.log(self.rng.random((k, len(groups))) + 1e-12) + 1e-12)
        return groups[np.argsort(-(sharp * z[None, :] + gumbel), axis=1)]

    def mask(self, state: dict, row: int) -> np.ndarray:
        """The boolean mask of candidate ``row`` of a round."""
        m = np.zeros(self.N, dtype=bool)
        start, size, layout = state["start"], state["size"], state["layout"]
        order = np.roll(state["bases"][state["base_of"][row]], -int(state["offset"][row]))
        for g in order[: state["n_full"][row]]:
            m[layout[start[g] : start[g] + size[g]]] = True
        g, r = state["partial"][row], state["rest"][row]
        m[layout[start[g] : start[g] + r]] = True
        return m
