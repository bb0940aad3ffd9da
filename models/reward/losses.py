"""Pairwise and pointwise reward-model losses (HelpSteer2-Preference, paper 003 section 3.2).

All losses take per-pair rewards of the chosen and the rejected response and return a mean over pairs;
``weights`` (optional) re-weight pairs, e.g. to zero out padding candidates in a vectorised batch.

- Bradley-Terry:        -log sigmoid(r_c - r_r)
- margin BT:            -log sigmoid(r_c - r_r - m)      (m = preference strength, Touvron et al. 2023)
- scaled BT:            -m * log sigmoid(r_c - r_r)      (the strength scales the loss instead)
- regression:           mean squared error of a predicted rating (0-4 helpfulness) against the gold rating
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.reward.loss_names import PAIRWISE_LOSSES


def _reduce(per_pair: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return per_pair.mean()
    total = weights.sum()
    if float(total) <= 0:
        raise ValueError("loss weights sum to zero: no pair to learn from")
    return (per_pair * weights).sum() / total


def _strength(strength: torch.Tensor | float | None, like: torch.Tensor) -> torch.Tensor:
    if strength is None:
        return torch.ones_like(like)
    s = torch.as_tensor(strength, dtype=like.dtype, device=like.device)
    if bool((s < 0).any()):
        raise ValueError("preference strength must be >= 0 (direction is given by chosen / rejected)")
    return s.expand_as(like) if s.dim() == 0 else s


def bt_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Regular Bradley-Terry: the probability that chosen beats rejected is sigmoid of the reward gap."""
    return _reduce(-F.logsigmoid(r_chosen - r_rejected), weights)


def margin_bt_loss(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    strength: torch.Tensor | float | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Margin BT: the gap must exceed the annotated strength before the loss gets small."""
    m = _strength(strength, r_chosen)
    return _reduce(-F.logsigmoid(r_chosen - r_rejected - m), weights)


def scaled_bt_loss(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    strength: torch.Tensor | float | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scaled BT: a strong preference counts m times, like repeating the pair m times."""
    m = _strength(strength, r_chosen)
    return _reduce(-m * F.logsigmoid(r_chosen - r_rejected), weights)


def regression_loss(
    predicted: torch.Tensor, rating: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """SteerLM-style regression on a 0-4 rating: squared error per response."""
    rating = torch.as_tensor(rating, dtype=predicted.dtype, device=predicted.device)
    if bool(((rating < 0) | (rating > 4)).any()):
        raise ValueError("regression ratings must lie in [0, 4]")
    return _reduce((predicted - rating) ** 2, weights)


def pairwise_loss(
    name: str,
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    strength: torch.Tensor | float | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Dispatch by name (``bt``, ``margin_bt``, ``scaled_bt``), so a run record can name its loss."""
    if name == "bt":
        return bt_loss(r_chosen, r_rejected, weights)
    if name == "margin_bt":
        return margin_bt_loss(r_chosen, r_rejected, strength, weights)
    if name == "scaled_bt":
        return scaled_bt_loss(r_chosen, r_rejected, strength, weights)
    raise ValueError(f"unknown pairwise loss {name!r}: expected one of {PAIRWISE_LOSSES}")
