"""Routing test fixtures: a small synthetic pool (no models) shared by the core tests."""

from __future__ import annotations

import numpy as np
import pytest

from routing.binning import TagTable
from routing.descriptive import DIMENSIONS
from routing.textual import LENGTH_TAGS, SIMILARITY_TAGS


def synthetic_table(n: int = 600, seed: int = 0) -> TagTable:
    """Random raw textual values and tagger answers for n instances."""
    rng = np.random.default_rng(seed)
    textual = {t: rng.random(n) for t in SIMILARITY_TAGS}
    textual.update({t: rng.integers(0, 300, n).astype(float) for t in LENGTH_TAGS})
    subjects = DIMENSIONS["subject_of_expertise"].labels
    answers = [
        {
            "subject_of_expertise": [subjects[rng.integers(len(subjects))]],
            "expertise_level": ["general public", "basic domain knowledge", "expert domain knowledge"][
                rng.integers(3)
            ],
            "languages": ["English"] if rng.random() < 0.8 else ["French"],
            "open_endedness": ["no", "low", "moderate", "high"][rng.integers(4)],
            "safety_concern": ["safe", "low", "moderate", "high"][rng.integers(4)],
            "complexity_of_intents": ["simple", "moderate", "complex"][rng.integers(3)],
            "type_of_in_context_material": ["code"] if rng.random() < 0.3 else [],
            "format_constraints": ["bullets"] if rng.random() < 0.3 else [],
        }
        for _ in range(n)
    ]
    return TagTable.build(list(range(n)), textual, answers)


@pytest.fixture(scope="module")
def table() -> TagTable:
    return synthetic_table()
