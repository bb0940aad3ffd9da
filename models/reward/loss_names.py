"""The names of the reward-model losses, without torch: the web process validates a requested loss against
them while only the worker that trains imports ``models.reward.losses``."""

from __future__ import annotations

PAIRWISE_LOSSES = ("bt", "margin_bt", "scaled_bt")
LOSSES = (*PAIRWISE_LOSSES, "regression")
