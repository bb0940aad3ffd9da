"""The fast proxy reward model (docs/METHOD.md, Proxy loop).

A response's reward is linear in fixed features of (prompt, response): the frozen sentence embedding of
"prompt + response" (cached on disk), optionally the embedding of the response alone and two length
features. A pair's reward gap is then w . (phi(b) - phi(a)), so training a Bradley-Terry head is an
L2-regularised logistic regression without intercept on feature differences.

Many heads (one per candidate dataset, per split) share the same feature matrix and differ only in which
pairs they see and with which labels, so ``fit_heads`` trains all of them at once: labels are a (H, n)
matrix of signed preferences, 0 meaning "pair not in this head's training set". Full-batch L-BFGS in
float64 on a convex objective: deterministic for a given input, no data order to record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.reward.loss_names import PAIRWISE_LOSSES


@dataclass(frozen=True)
class ProxySettings:
    """Everything that changes a proxy head's scores; chosen on a development split, stored with results."""

    # Defaults chosen on inner 450/150 development splits of the 600 training pairs of PandaLM (human and
    # GPT-3.5 labels), never on test pairs: "pr+resp+len", standardised, l2 = 0.01.
    features: str = "pr+resp+len"  # "pr", "pr+resp", "pr+len", "pr+resp+len"
    l2: float = 1e-2
    loss: str = "bt"
    max_iter: int = 100

    def __post_init__(self) -> None:
        if self.features not in {"pr", "pr+resp", "pr+len", "pr+resp+len"}:
            raise ValueError(
                f"ProxySettings.features={self.features!r}: expected pr, pr+resp, pr+len or pr+resp+len"
            )
        if self.loss not in PAIRWISE_LOSSES:
            raise ValueError(f"ProxySettings.loss={self.loss!r}: expected one of {PAIRWISE_LOSSES}")
        if self.l2 < 0:
            raise ValueError("ProxySettings.l2 must be >= 0")


def length_features(responses: Sequence[str]) -> np.ndarray:
    """log(1 + words) and an empty flag: surface features a frozen embedding of long text loses."""
    words = np.array([len(r.split()) for r in responses], dtype=np.float32)
    return np.stack([np.log1p(words), (words == 0).astype(np.float32)], axis=1)


def response_features(
    settings: ProxySettings,
    pr_embeddings: np.ndarray,
    responses: Sequence[str],
    resp_embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """phi(prompt, response) for each response, in the layout ``settings.features`` names."""
    parts = [pr_embeddings]
    if "resp" in settings.features:
        if resp_embeddings is None:
            raise ValueError(f"features={settings.features!r} needs response-only embeddings")
        parts.append(resp_embeddings)
    if "len" in settings.features:
        parts.append(length_features(responses))
    return np.concatenate(parts, axis=1).astype(np.float32)


def fit_heads(
    diffs: np.ndarray,
    labels: np.ndarray,
    settings: ProxySettings,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Train H linear BT heads at once.

    diffs: (n, d) phi(response_b) - phi(response_a) per pair; labels: (H, n) signed preferences (< 0 A
    better, > 0 B better, 0 = not in this head's training set; |label| = strength for margin / scaled BT);
    scale: per-feature divisor (standardisation). Returns W (H, d) in the unscaled feature space.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != diffs.shape[0]:
        raise ValueError(f"labels shape {labels.shape} does not match {diffs.shape[0]} pairs")
    scale = np.ones(diffs.shape[1]) if scale is None else np.asarray(scale, dtype=np.float64)
    X = torch.from_numpy(diffs.astype(np.float64) / scale)
    Y = torch.from_numpy(labels)
    sign = torch.sign(Y)
    present = (sign != 0).to(torch.float64)
    count = present.sum(1).clamp(min=1.0)
    strength = Y.abs()
    W = torch.zeros(Y.shape[0], X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [W],
        lr=1.0,
        max_iter=settings.max_iter,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        history_size=20,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        gap = (W @ X.T) * sign  # (H, n): reward(chosen) - reward(rejected)
        if settings.loss == "margin_bt":
            per = -torch.nn.functional.logsigmoid(gap - strength)
        elif settings.loss == "scaled_bt":
            per = -strength * torch.nn.functional.logsigmoid(gap)
        else:
            per = -torch.nn.functional.logsigmoid(gap)
        loss = ((per * present).sum(1) / count).sum() + settings.l2 * (W**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (W.detach().numpy() / scale).astype(np.float32)


def feature_scale(features: np.ndarray) -> np.ndarray:
    """Per-feature standard deviation (floored), so one l2 value suits embedding and length columns."""
    return np.maximum(features.std(axis=0), 1e-3)


class ProxyRewardModel:
    """One proxy reward model, scikit-learn style, over precomputed response features."""

    def __init__(self, settings: ProxySettings | None = None) -> None:
        self.settings = settings or ProxySettings()
        self.coef_: np.ndarray | None = None

    def fit(
        self, features_a: np.ndarray, features_b: np.ndarray, preferences: Sequence[int]
    ) -> ProxyRewardModel:
        prefs = np.asarray(preferences, dtype=np.float64)
        if (prefs == 0).all():
            raise ValueError("no non-tie preference to train on")
        scale = feature_scale(np.concatenate([features_a, features_b]))
        self.coef_ = fit_heads(features_b - features_a, prefs[None, :], self.settings, scale)[0]
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Reward per response."""
        if self.coef_ is None:
            raise RuntimeError("ProxyRewardModel.predict called before fit")
        return features @ self.coef_
