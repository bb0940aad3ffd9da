"""Annotation schemes as data (docs/METHOD.md, Schemes).

A project's scheme is a JSON configuration: its kind ("multipref" or "helpsteer2") plus the questions,
scales and reason lists. The defaults below follow the papers; a project may narrow them (fewer aspects,
other reasons, justification required or not) and the configuration is validated when saved.
"""

from __future__ import annotations

import copy
from typing import Any

MULTIPREF = "multipref"
HELPSTEER2 = "helpsteer2"

# 5-point preference with tie, in the order shown to the annotator. Values are canonical signed integers:
# negative = the response shown first is better.
MULTIPREF_SCALE = {
    "A-clearly": -2,
    "A-slightly": -1,
    "tie": 0,
    "B-slightly": 1,
    "B-clearly": 2,
}

MULTIPREF_REASONS = {
    "helpfulness": [
        "correct",
        "informative",
        "concise",
        "well formatted",
        "coherent",
        "creative",
        "understandable",
        "better tone",
    ],
    "truthfulness": [
        "factual",
        "faithful to given context",
        "aware of time",
        "aware of confusion",
        "aware of falsehood",
        "aware of its limits",
    ],
    "harmlessness": ["not offensive", "not dangerous", "avoids restricted content", "respects privacy"],
}

HELPSTEER2_ATTRIBUTES = ["helpfulness", "correctness", "coherence", "complexity", "verbosity"]
# The 7 options: -3..-1 response 1 better, +1..+3 response 2 better, and "neither valid". No tie.
HELPSTEER2_PREFERENCES = [-3, -2, -1, 1, 2, 3]
NEITHER_VALID = "neither"

_DEFAULTS: dict[str, dict[str, Any]] = {
    MULTIPREF: {
        "kind": MULTIPREF,
        "scale": MULTIPREF_SCALE,
        "aspects": ["helpfulness", "truthfulness", "harmlessness"],
        "reasons": MULTIPREF_REASONS,
        "justification_required": False,
    },
    HELPSTEER2: {
        "kind": HELPSTEER2,
        "attributes": HELPSTEER2_ATTRIBUTES,
        "rating_range": [0, 4],
        "preferences": HELPSTEER2_PREFERENCES,
        "allow_neither_valid": True,
        "justification_required": True,
    },
}


class SchemeError(ValueError):
    """A scheme configuration or an answer does not fit; the message names the field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def default_scheme_config(kind: str = MULTIPREF) -> dict[str, Any]:
    if kind not in _DEFAULTS:
        raise SchemeError(f"unknown scheme kind {kind!r}; expected one of {sorted(_DEFAULTS)}", "kind")
    return copy.deepcopy(_DEFAULTS[kind])


def validate_scheme_config(config: Any) -> dict[str, Any]:
    """Check a scheme configuration and return it completed with defaults for missing keys."""
    if not isinstance(config, dict):
        raise SchemeError("the scheme must be a JSON object", "scheme")
    kind = config.get("kind")
    if kind not in _DEFAULTS:
        raise SchemeError(f"unknown scheme kind {kind!r}; expected one of {sorted(_DEFAULTS)}", "scheme.kind")
    full = {**default_scheme_config(kind), **config}
    unknown = set(full) - set(_DEFAULTS[kind])
    if unknown:
        raise SchemeError(f"unknown keys {sorted(unknown)} for a {kind} scheme", "scheme")
    if not isinstance(full["justification_required"], bool):
        raise SchemeError("must be true or false", "scheme.justification_required")
    if kind == MULTIPREF:
        _validate_multipref_config(full)
    else:
        _validate_helpsteer2_config(full)
    return full


def _validate_multipref_config(config: dict[str, Any]) -> None:
    if config["scale"] != MULTIPREF_SCALE:
        raise SchemeError("the MultiPref scale is fixed: A-clearly .. B-clearly with tie", "scheme.scale")
    aspects = config["aspects"]
    if not isinstance(aspects, list) or not set(aspects) <= set(MULTIPREF_REASONS):
        raise SchemeError(f"aspects must be a subset of {list(MULTIPREF_REASONS)}", "scheme.aspects")
    reasons = config["reasons"]
    if not isinstance(reasons, dict):
        raise SchemeError("reasons must map aspect names to lists of reasons", "scheme.reasons")
    for aspect, options in reasons.items():
        if aspect not in aspects:
            raise SchemeError(
                f"reasons given for aspect {aspect!r} which the scheme does not ask", "scheme.reasons"
            )
        if not isinstance(options, list) or not all(isinstance(o, str) and o for o in options):
            raise SchemeError("must be a list of non-empty strings", f"scheme.reasons.{aspect}")


def _validate_helpsteer2_config(config: dict[str, Any]) -> None:
    attributes = config["attributes"]
    if (
        not isinstance(attributes, list)
        or not set(attributes) <= set(HELPSTEER2_ATTRIBUTES)
        or not attributes
    ):
        raise SchemeError(
            f"attributes must be a non-empty subset of {HELPSTEER2_ATTRIBUTES}", "scheme.attributes"
        )
    if config["rating_range"] != [0, 4]:
        raise SchemeError("HelpSteer2 ratings are on the 0-4 Likert scale", "scheme.rating_range")
    if config["preferences"] != HELPSTEER2_PREFERENCES:
        raise SchemeError("the HelpSteer2 preference options are fixed: -3..-1, +1..+3", "scheme.preferences")
    if not isinstance(config["allow_neither_valid"], bool):
        raise SchemeError("must be true or false", "scheme.allow_neither_valid")
