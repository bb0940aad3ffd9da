"""The pool rule (docs/METHOD.md, Instance and pool; routing/pool.py)."""

from __future__ import annotations

import numpy as np
import pytest

from routing.config import PAPER, RECOMMENDED
from routing.pool import chosen_source_pool, either_source_pool, select_pool

HUMAN = [-1, 0, 2, 1, None, -2, 1]
LM = [1, 1, 0, -1, 1, None, 1]


def test_recommended_drops_ties_and_missing_under_either_source():
    assert either_source_pool(HUMAN, LM).tolist() == [0, 3, 6]
    assert select_pool(HUMAN, LM, RECOMMENDED).tolist() == [0, 3, 6]
    # the pool does not depend on any routing
    assert either_source_pool(np.array(HUMAN, dtype=float), LM).tolist() == [0, 3, 6]


def test_paper_drops_only_the_chosen_source_ties_then_subsamples():
    all_lm = np.zeros(7, bool)
    all_human = np.ones(7, bool)
    rng = np.random.default_rng(0)
    # LM chosen everywhere: the human tie (1) and missing human (4) stay, the LM tie (2) and missing LM (5) go
    assert chosen_source_pool(HUMAN, LM, all_lm, rng, size=5).tolist() == [0, 1, 3, 4, 6]
    assert chosen_source_pool(HUMAN, LM, all_human, rng, size=5).tolist() == [0, 2, 3, 5, 6]
    mixed = np.array([0, 1, 1, 0, 0, 0, 0], bool)  # 1 -> human tie, 2 -> human 2, 5 -> LM missing
    assert chosen_source_pool(HUMAN, LM, mixed, rng, size=5).tolist() == [0, 2, 3, 4, 6]
    sub = chosen_source_pool(HUMAN, LM, all_lm, np.random.default_rng(1), size=3)
    assert len(sub) == 3 and set(sub) <= {0, 1, 3, 4, 6} and list(sub) == sorted(sub)
    again = select_pool(HUMAN, LM, PAPER, mask=all_lm, rng=np.random.default_rng(1), size=3)
    assert again.tolist() == sub.tolist()  # same seed, same subsample


def test_paper_pool_errors_name_the_problem():
    with pytest.raises(ValueError, match="fewer than the fixed pool size 7000"):
        chosen_source_pool(HUMAN, LM, np.zeros(7, bool), np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs the routing mask"):
        select_pool(HUMAN, LM, PAPER)
    with pytest.raises(ValueError, match="7 human labels but 6 LM"):
        either_source_pool(HUMAN, LM[:6])
