"""The instance pool P of a routing (docs/METHOD.md, Instance and pool): which instances may enter candidates.

Labels are signed preferences (docs/CONVENTIONS.md: < 0 A, > 0 B, 0 tie) with None / NaN for "no label".

- recommended mode (:func:`either_source_pool`): drop every instance that is a tie, or unlabelled, under
  **either** source before any candidate is built, so every candidate dataset is made of the same pool P;
- paper mode (:func:`chosen_source_pool`): drop an instance only when the label of the source chosen for it
  (human where the mask routes it to people, LM elsewhere) is a tie, then subsample to a fixed size, so pool
  and size vary with the routing.

:func:`select_pool` picks the rule from ``Mode.tie_policy``. This is the only implementation of the rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from routing.config import RECOMMENDED, Mode

Labels = Sequence[int | float | None] | np.ndarray


def as_labels(labels: Labels, name: str = "labels") -> np.ndarray:
    """Float array of signed preferences, NaN where there is no label."""
    out = np.array([np.nan if v is None else v for v in labels], dtype=np.float64)
    if out.ndim != 1:
        raise ValueError(f"{name}: expected one label per instance, got shape {out.shape}")
    return out


def _usable(labels: np.ndarray) -> np.ndarray:
    return np.isfinite(labels) & (labels != 0)


def either_source_pool(human: Labels, lm: Labels) -> np.ndarray:
    """Recommended: sorted indices of the instances with a non-tie label from both sources."""
    h, m = as_labels(human, "human"), as_labels(lm, "lm")
    if len(h) != len(m):
        raise ValueError(f"either_source_pool: {len(h)} human labels but {len(m)} LM labels")
    return np.flatnonzero(_usable(h) & _usable(m))


def chosen_source_pool(
    human: Labels,
    lm: Labels,
    mask: np.ndarray,
    rng: np.random.Generator,
    size: int = RECOMMENDED.paper_pool_size,
) -> np.ndarray:
    """Paper: sorted indices of ``size`` instances drawn uniformly among those whose chosen source's label
    (human where ``mask`` is True, LM elsewhere) is present and not a tie."""
    h, m = as_labels(human, "human"), as_labels(lm, "lm")
    mask = np.asarray(mask, dtype=bool)
    if not len(h) == len(m) == len(mask):
        raise ValueError(
            f"chosen_source_pool: {len(h)} human labels, {len(m)} LM labels and a mask of {len(mask)}"
        )
    if size < 1:
        raise ValueError(f"chosen_source_pool: size {size} must be at least 1")
    chosen = np.where(mask, h, m)
    kept = np.flatnonzero(_usable(chosen))
    if len(kept) < size:
        raise ValueError(
            f"chosen_source_pool: only {len(kept)} instances have a non-tie label from their chosen source, "
            f"fewer than the fixed pool size {size}"
        )
    return np.sort(rng.choice(kept, size=size, replace=False))


def select_pool(
    human: Labels,
    lm: Labels,
    mode: Mode = RECOMMENDED,
    mask: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    size: int | None = None,
) -> np.ndarray:
    """The pool under ``mode.tie_policy``; paper mode needs the routing ``mask`` and an ``rng``."""
    if mode.tie_policy == "either_source":
        return either_source_pool(human, lm)
    if mask is None or rng is None:
        raise ValueError("select_pool: paper mode (chosen_source) needs the routing mask and an rng")
    return chosen_source_pool(human, lm, mask, rng, mode.paper_pool_size if size is None else size)
