"""Label conventions shared by import, judging, aggregation, export and the reward-model data. No Django.

A preference is a signed integer in canonical order: < 0 response_a better, > 0 response_b better, 0 tie.
They live here, in the lowest layer, so that the pure reward-model code and the Django apps read labels
the same way (``annotation.core.labels`` re-exports them).
"""

from __future__ import annotations

from typing import Literal

Choice = Literal["A", "B", "tie"]


def choice_of(preference: int) -> Choice:
    """Collapse a signed preference to A / B / tie (strength dropped)."""
    if preference < 0:
        return "A"
    if preference > 0:
        return "B"
    return "tie"


def preference_of(choice: str) -> int:
    """An A / B / tie label without a strength, as a canonical preference (-1, +1, 0)."""
    normalised = choice.strip().lower()
    if normalised in {"a", "response_a", "1"}:
        return -1
    if normalised in {"b", "response_b", "2"}:
        return 1
    if normalised in {"tie", "0", "equal"}:
        return 0
    raise ValueError(f"not an A / B / tie label: {choice!r}")


def unswap(preference: int, shown_swapped: bool) -> int:
    """Undo the display order: a preference given with B shown first, back in canonical order."""
    return -preference if shown_swapped else preference
