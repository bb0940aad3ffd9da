"""Label conventions shared by import, judging, aggregation and export: defined in ``models.preferences`` (the
lowest layer, which the pure reward-model code also reads) and re-exported here for the annotation apps."""

from __future__ import annotations

from models.preferences import Choice, choice_of, preference_of, unswap

__all__ = ["Choice", "choice_of", "preference_of", "unswap"]
