"""Many human labels -> one: the project's aggregation rules, defined in ``models.aggregation`` (the lowest
layer, so the PPM loop's pure data reader aggregates exactly as the dataset export does) and re-exported
here for the annotation apps."""

from __future__ import annotations

from models.aggregation import (
    HELPSTEER2,
    MAJORITY,
    METHODS,
    AggregateResult,
    LabelInput,
    aggregate,
    aggregate_aspects,
    closest_three,
    helpsteer2,
    majority,
    usable_labels,
)

__all__ = [
    "HELPSTEER2",
    "MAJORITY",
    "METHODS",
    "AggregateResult",
    "LabelInput",
    "aggregate",
    "aggregate_aspects",
    "closest_three",
    "helpsteer2",
    "majority",
    "usable_labels",
]
