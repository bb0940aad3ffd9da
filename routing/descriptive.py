"""Descriptive tags of a prompt for routing: the schema, answer normalisation and binary features.

Defined in ``models.lm.descriptive`` (the LM tagger, in the lower layer, asks these questions and normalises
the answers; routing turns them into tag columns) and re-exported here, so that neither layer imports the
other's modules in a cycle.
"""

from __future__ import annotations

from models.lm.descriptive import (
    ALL_FEATURES,
    DESCRIPTIVE_FEATURES,
    DIMENSIONS,
    DOMAIN_FEATURES,
    EXPERT_DOMAINS,
    PAPER_DIMENSIONS,
    SUBJECTS,
    UNKNOWN,
    Dimension,
    features_of,
    normalize_answer,
)

__all__ = [
    "ALL_FEATURES",
    "DESCRIPTIVE_FEATURES",
    "DIMENSIONS",
    "DOMAIN_FEATURES",
    "EXPERT_DOMAINS",
    "PAPER_DIMENSIONS",
    "SUBJECTS",
    "UNKNOWN",
    "Dimension",
    "features_of",
    "normalize_answer",
]
