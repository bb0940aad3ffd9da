"""Validate an annotator's answer against the project's scheme and turn it into canonical label fields.

Answers arrive in *shown* order (what the annotator saw as A / Response 1 first). Every error is a
``SchemeError`` whose ``field`` names the offending part of the answer (e.g. ``aspects.truthfulness``,
``reasons.style``, ``ratings.2.verbosity``, ``justification``).

MultiPref answer::

    {"overall": "A-slightly", "aspects": {"helpfulness": "tie", ...},
     "reasons": {"helpfulness": ["correct", "concise"]}, "justification": "..."}

HelpSteer2 answer::

    {"ratings": {"1": {"helpfulness": 3, ...}, "2": {...}}, "preference": -2 | "neither",
     "justification": "@Response 1 is better than @Response 2 because ..."}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from annotation.core.labels import unswap
from annotation.core.schemes import (
    HELPSTEER2,
    MULTIPREF,
    NEITHER_VALID,
    SchemeError,
    validate_scheme_config,
)

MAX_JUSTIFICATION = 5000
RESPONSE_MENTION = re.compile(r"@Response\s*[12]\b")
# "@Response 1 is slightly better than @Response 2", "@Response 2 is much better", "@Response 1 is better".
PREFERENCE_STATEMENT = re.compile(r"@Response\s*[12]\b[^.!?\n]{0,80}?\bbetter\b", re.IGNORECASE)


@dataclass
class CanonicalAnswer:
    """The fields of a ``HumanLabel`` derived from one answer, display order undone."""

    preference: int | None
    neither_valid: bool = False
    aspects: dict[str, int] = field(default_factory=dict)
    ratings: dict[str, dict[str, int]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)


def validate_answer(scheme: dict[str, Any], answer: Any, shown_swapped: bool = False) -> CanonicalAnswer:
    """Check ``answer`` against ``scheme``; return the canonical label (raises SchemeError naming the field)."""
    config = validate_scheme_config(scheme)
    if not isinstance(answer, dict):
        raise SchemeError("the answer must be a JSON object", "answer")
    if config["kind"] == MULTIPREF:
        return _multipref(config, answer, shown_swapped)
    if config["kind"] == HELPSTEER2:
        return _helpsteer2(config, answer, shown_swapped)
    raise SchemeError(f"unsupported scheme kind {config['kind']!r}", "scheme.kind")  # pragma: no cover


def _check_keys(answer: dict, allowed: set[str], where: str = "answer") -> None:
    unknown = sorted(set(answer) - allowed)
    if unknown:
        raise SchemeError(f"unknown fields {unknown}; expected some of {sorted(allowed)}", where)


def _justification(config: dict, answer: dict) -> str:
    text = answer.get("justification", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise SchemeError("must be text", "justification")
    text = text.strip()
    if len(text) > MAX_JUSTIFICATION:
        raise SchemeError(f"is longer than {MAX_JUSTIFICATION} characters", "justification")
    if config["justification_required"] and not text:
        raise SchemeError("is required for this project", "justification")
    return text


def _scale_value(scale: dict[str, int], value: Any, where: str) -> int:
    if value not in scale:
        raise SchemeError(f"{value!r} is outside the scale; choose one of {list(scale)}", where)
    return scale[value]


def _multipref(config: dict, answer: dict, swapped: bool) -> CanonicalAnswer:
    _check_keys(answer, {"overall", "aspects", "reasons", "justification"})
    scale = config["scale"]
    if "overall" not in answer:
        raise SchemeError("is required", "overall")
    overall = _scale_value(scale, answer["overall"], "overall")
    given_aspects = answer.get("aspects") or {}
    if not isinstance(given_aspects, dict):
        raise SchemeError("must map aspect names to scale values", "aspects")
    for name in given_aspects:
        if name not in config["aspects"]:
            raise SchemeError(f"unknown aspect; this project asks {config['aspects']}", f"aspects.{name}")
    aspects: dict[str, int] = {}
    for name in config["aspects"]:
        if name not in given_aspects:
            raise SchemeError("is required", f"aspects.{name}")
        aspects[name] = unswap(_scale_value(scale, given_aspects[name], f"aspects.{name}"), swapped)
    reasons = answer.get("reasons") or {}
    if not isinstance(reasons, dict):
        raise SchemeError("must map aspect names to lists of reasons", "reasons")
    clean_reasons: dict[str, list[str]] = {}
    for name, chosen in reasons.items():
        allowed = config["reasons"].get(name)
        if name not in config["aspects"] or allowed is None:
            raise SchemeError("reasons given for an unknown aspect", f"reasons.{name}")
        if not isinstance(chosen, list) or not all(isinstance(r, str) for r in chosen):
            raise SchemeError("must be a list of reason names", f"reasons.{name}")
        unknown = sorted(set(chosen) - set(allowed))
        if unknown:
            raise SchemeError(f"unknown reasons {unknown}; allowed: {allowed}", f"reasons.{name}")
        if chosen:
            clean_reasons[name] = sorted(set(chosen), key=allowed.index)
    stored = {
        "overall": answer["overall"],
        "aspects": {name: given_aspects[name] for name in config["aspects"]},
        "reasons": clean_reasons,
        "justification": _justification(config, answer),
    }
    return CanonicalAnswer(preference=unswap(overall, swapped), aspects=aspects, answers=stored)


def _rating(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SchemeError(f"{value!r} is outside the scale {low}-{high}", where)
    return value


def _helpsteer2(config: dict, answer: dict, swapped: bool) -> CanonicalAnswer:
    _check_keys(answer, {"ratings", "preference", "justification"})
    low, high = config["rating_range"]
    ratings = answer.get("ratings")
    if not isinstance(ratings, dict):
        raise SchemeError("is required: ratings of Response 1 and Response 2", "ratings")
    _check_keys(ratings, {"1", "2"}, "ratings")
    shown: dict[str, dict[str, int]] = {}
    for side in ("1", "2"):
        given = ratings.get(side)
        if not isinstance(given, dict):
            raise SchemeError("is required", f"ratings.{side}")
        _check_keys(given, set(config["attributes"]), f"ratings.{side}")
        shown[side] = {}
        for attribute in config["attributes"]:
            if attribute not in given:
                raise SchemeError("is required", f"ratings.{side}.{attribute}")
            shown[side][attribute] = _rating(given[attribute], f"ratings.{side}.{attribute}", low, high)
    if "preference" not in answer:
        raise SchemeError("is required", "preference")
    value = answer["preference"]
    neither = value == NEITHER_VALID
    if neither and not config["allow_neither_valid"]:
        raise SchemeError("'neither' is not allowed in this project", "preference")
    if not neither and (isinstance(value, bool) or value not in config["preferences"]):
        options = list(config["preferences"]) + ([NEITHER_VALID] if config["allow_neither_valid"] else [])
        raise SchemeError(f"{value!r} is outside the scale; choose one of {options}", "preference")
    text = _justification(config, answer)
    if text and config["justification_required"]:
        if not RESPONSE_MENTION.search(text):
            raise SchemeError('must name the responses as "@Response 1" / "@Response 2"', "justification")
        if not neither and not PREFERENCE_STATEMENT.search(text):
            raise SchemeError(
                'must contain a preference statement such as "@Response 1 is better than @Response 2"',
                "justification",
            )
    first, second = ("response_b", "response_a") if swapped else ("response_a", "response_b")
    return CanonicalAnswer(
        preference=None if neither else unswap(value, swapped),
        neither_valid=neither,
        ratings={first: shown["1"], second: shown["2"]},
        answers={"ratings": shown, "preference": value, "justification": text},
    )
