"""Loss functions against values computed by hand (and paper 003 Table 10)."""

import math

import pytest
import torch

from models.reward.losses import bt_loss, margin_bt_loss, pairwise_loss, regression_loss, scaled_bt_loss


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def nls(x: float) -> float:
    """-log sigmoid(x), by hand."""
    return math.log(1.0 + math.exp(-x))


def test_bt_zero_gap_is_log2():
    assert bt_loss(t(0.0), t(0.0)).item() == pytest.approx(math.log(2))


def test_bt_mean_over_pairs():
    # gaps 1 and -2: (log(1+e^-1) + log(1+e^2)) / 2 = (0.313262 + 2.126928) / 2
    assert bt_loss(t(1.0, 0.0), t(0.0, 2.0)).item() == pytest.approx((0.3132617 + 2.1269280) / 2, abs=1e-6)


def test_margin_bt_paper_table10():
    # paper 003 Table 10: gap 1, m 3 -> 2.1269; gap -3, m 3 -> 6.0025
    assert margin_bt_loss(t(1.0), t(0.0), t(3.0)).item() == pytest.approx(2.1269, abs=1e-4)
    assert margin_bt_loss(t(0.0), t(3.0), t(3.0)).item() == pytest.approx(6.0025, abs=1e-4)


def test_scaled_bt_paper_table10():
    # gap -3, m 3 -> 3 * log(1 + e^3) = 9.1458
    assert scaled_bt_loss(t(0.0), t(3.0), t(3.0)).item() == pytest.approx(9.1458, abs=1e-4)
    # gap 1, m 3 -> 3 * 0.313262 = 0.9398
    assert scaled_bt_loss(t(1.0), t(0.0), t(3.0)).item() == pytest.approx(3 * nls(1.0), abs=1e-6)


def test_strength_one_reduces_scaled_to_bt_and_margin_shifts():
    rc, rr = t(0.5, -1.0, 2.0), t(0.0, 0.3, 2.5)
    assert scaled_bt_loss(rc, rr, 1.0).item() == pytest.approx(bt_loss(rc, rr).item())
    assert margin_bt_loss(rc, rr, 0.0).item() == pytest.approx(bt_loss(rc, rr).item())
    by_hand = (nls(0.5 - 1) + nls(-1.3 - 1) + nls(-0.5 - 1)) / 3
    assert margin_bt_loss(rc, rr, 1.0).item() == pytest.approx(by_hand)


def test_weights_and_per_pair_strength():
    # pair 1: gap 2, m 1; pair 2: gap -1, m 2; weights 1 and 3
    value = scaled_bt_loss(t(2.0, 0.0), t(0.0, 1.0), t(1.0, 2.0), weights=t(1.0, 3.0)).item()
    assert value == pytest.approx((1 * nls(2.0) + 3 * 2 * nls(-1.0)) / 4)


def test_regression_mse_on_ratings():
    assert regression_loss(t(1.0, 3.5), t(2.0, 4.0)).item() == pytest.approx((1.0 + 0.25) / 2)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        regression_loss(t(1.0), t(5.0))


def test_dispatch_and_errors():
    assert pairwise_loss("margin_bt", t(1.0), t(0.0), 3.0).item() == pytest.approx(2.1269, abs=1e-4)
    with pytest.raises(ValueError, match="unknown pairwise loss"):
        pairwise_loss("hinge", t(1.0), t(0.0))
    with pytest.raises(ValueError, match="strength"):
        scaled_bt_loss(t(1.0), t(0.0), -1.0)


def test_gradient_direction():
    rc = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    bt_loss(rc, t(0.0)).backward()
    assert rc.grad.item() == pytest.approx(-0.5)  # d/dx -log sigmoid(x) at 0 = -(1 - 0.5)
