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


class AnswerErrors(SchemeError):
    """Every problem of one answer at once, so the annotator fixes them in one round trip.

    Behaves as the first ``SchemeError`` (``field`` and message), and ``errors`` maps each field to
    sentences written for the annotator (shown next to that field).
    """

    def __init__(self, first: SchemeError, errors: dict[str, list[str]]):
        super().__init__(str(first).split(": ", 1)[-1] if first.field else str(first), first.field)
        self.errors = errors


def field_title(name: str) -> str:
    """A field key in words: ``ratings.2.verbosity`` -> "Verbosity of Response 2"."""
    parts = name.split(".")
    if parts[0] == "ratings" and len(parts) == 3:
        return f"{parts[2].capitalize()} of Response {parts[1]}"
    if parts[0] == "ratings" and len(parts) == 2:
        return f"The ratings of Response {parts[1]}"
    if parts[0] in ("aspects", "reasons") and len(parts) == 2:
        return parts[1].capitalize() + (" reasons" if parts[0] == "reasons" else "")
    titles = {"overall": "The overall preference", "preference": "The preference", "answer": "The answer"}
    return titles.get(name, name.capitalize())


def in_words(error: SchemeError) -> str:
    """One sentence for the annotator: "Helpfulness: please choose an answer." rather than "aspects.x: is required"."""
    where = error.field or "answer"
    message = str(error).split(": ", 1)[-1] if error.field else str(error)
    if message == "is required":
        return f"{field_title(where)}: please choose an answer."
    if message.startswith(("is ", "must ")):
        return f"{field_title(where)} {message}."
    return f"{field_title(where)}: {message}."


class _Errors:
    """Collects the SchemeErrors of one answer instead of stopping at the first."""

    def __init__(self) -> None:
        self.first: SchemeError | None = None
        self.found: dict[str, list[str]] = {}

    def add(self, error: SchemeError) -> None:
        if isinstance(error, AnswerErrors):
            for where, messages in error.errors.items():
                self.found.setdefault(where, []).extend(messages)
        else:
            self.found.setdefault(error.field or "answer", []).append(in_words(error))
        self.first = self.first or error

    def attempt(self, check, *args) -> Any:
        """Run one check; its error is recorded and None returned in place of its value."""
        try:
            return check(*args)
        except SchemeError as error:
            self.add(error)
            return None

    def raise_any(self) -> None:
        if self.first is not None:
            raise AnswerErrors(self.first, self.found)


def validate_answer(scheme: dict[str, Any], answer: Any, shown_swapped: bool = False) -> CanonicalAnswer:
    """Check ``answer`` against ``scheme``; return the canonical label.

    Raises ``AnswerErrors`` (a SchemeError naming the first field) listing every problem found.
    """
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
    if isinstance(value, (dict, list)) or value not in scale:
        raise SchemeError(f"{value!r} is outside the scale; choose one of {list(scale)}", where)
    return scale[value]


def _required(answer: dict, key: str, where: str) -> Any:
    if key not in answer:
        raise SchemeError("is required", where)
    return answer[key]


def _multipref_aspects(config: dict, given: Any, swapped: bool, errors: _Errors) -> dict[str, int]:
    if not isinstance(given, dict):
        raise SchemeError("must map aspect names to scale values", "aspects")
    for name in given:
        if name not in config["aspects"]:
            errors.add(
                SchemeError(f"unknown aspect; this project asks {config['aspects']}", f"aspects.{name}")
            )
    aspects: dict[str, int] = {}
    for name in config["aspects"]:
        value = errors.attempt(_required, given, name, f"aspects.{name}")
        if name in given:
            number = errors.attempt(_scale_value, config["scale"], value, f"aspects.{name}")
            if number is not None:
                aspects[name] = unswap(number, swapped)
    return aspects


def _multipref_reasons(config: dict, reasons: Any, errors: _Errors) -> dict[str, list[str]]:
    if not isinstance(reasons, dict):
        raise SchemeError("must map aspect names to lists of reasons", "reasons")
    clean: dict[str, list[str]] = {}
    for name, chosen in reasons.items():
        allowed = config["reasons"].get(name)
        if name not in config["aspects"] or allowed is None:
            errors.add(SchemeError("reasons given for an unknown aspect", f"reasons.{name}"))
            continue
        if not isinstance(chosen, list) or not all(isinstance(r, str) for r in chosen):
            errors.add(SchemeError("must be a list of reason names", f"reasons.{name}"))
            continue
        unknown = sorted(set(chosen) - set(allowed))
        if unknown:
            errors.add(SchemeError(f"unknown reasons {unknown}; allowed: {allowed}", f"reasons.{name}"))
        elif chosen:
            clean[name] = sorted(set(chosen), key=allowed.index)
    return clean


def _multipref(config: dict, answer: dict, swapped: bool) -> CanonicalAnswer:
    errors = _Errors()
    errors.attempt(_check_keys, answer, {"overall", "aspects", "reasons", "justification"})
    overall = None
    if "overall" not in answer:
        errors.add(SchemeError("is required", "overall"))
    else:
        overall = errors.attempt(_scale_value, config["scale"], answer["overall"], "overall")
    given_aspects = answer.get("aspects") or {}
    aspects = errors.attempt(_multipref_aspects, config, given_aspects, swapped, errors)
    reasons = errors.attempt(_multipref_reasons, config, answer.get("reasons") or {}, errors)
    text = errors.attempt(_justification, config, answer)
    errors.raise_any()
    stored = {
        "overall": answer["overall"],
        "aspects": {name: given_aspects[name] for name in config["aspects"]},
        "reasons": reasons,
        "justification": text,
    }
    return CanonicalAnswer(preference=unswap(overall, swapped), aspects=aspects, answers=stored)


def _rating(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SchemeError(f"{value!r} is outside the scale {low}-{high}", where)
    return value


def _helpsteer2_ratings(config: dict, ratings: Any, errors: _Errors) -> dict[str, dict[str, int]]:
    low, high = config["rating_range"]
    if not isinstance(ratings, dict):
        raise SchemeError("is required: ratings of Response 1 and Response 2", "ratings")
    errors.attempt(_check_keys, ratings, {"1", "2"}, "ratings")
    shown: dict[str, dict[str, int]] = {}
    for side in ("1", "2"):
        given = ratings.get(side)
        if not isinstance(given, dict):
            errors.add(SchemeError("is required", f"ratings.{side}"))
            continue
        errors.attempt(_check_keys, given, set(config["attributes"]), f"ratings.{side}")
        shown[side] = {}
        for attribute in config["attributes"]:
            where = f"ratings.{side}.{attribute}"
            if attribute not in given:
                errors.add(SchemeError("is required", where))
                continue
            value = errors.attempt(_rating, given[attribute], where, low, high)
            if value is not None:
                shown[side][attribute] = value
    return shown


def _helpsteer2_preference(config: dict, answer: dict) -> Any:
    value = _required(answer, "preference", "preference")
    if value == NEITHER_VALID:
        if not config["allow_neither_valid"]:
            raise SchemeError("'neither' is not allowed in this project", "preference")
        return value
    if isinstance(value, (bool, dict, list)) or value not in config["preferences"]:
        options = list(config["preferences"]) + ([NEITHER_VALID] if config["allow_neither_valid"] else [])
        raise SchemeError(f"{value!r} is outside the scale; choose one of {options}", "preference")
    return value


def _helpsteer2_statement(config: dict, text: str, neither: bool) -> None:
    if not (text and config["justification_required"]):
        return
    if not RESPONSE_MENTION.search(text):
        raise SchemeError('must name the responses as "@Response 1" / "@Response 2"', "justification")
    if not neither and not PREFERENCE_STATEMENT.search(text):
        raise SchemeError(
            'must contain a preference statement such as "@Response 1 is better than @Response 2"',
            "justification",
        )


def _helpsteer2(config: dict, answer: dict, swapped: bool) -> CanonicalAnswer:
    errors = _Errors()
    errors.attempt(_check_keys, answer, {"ratings", "preference", "justification"})
    shown = errors.attempt(_helpsteer2_ratings, config, answer.get("ratings"), errors)
    value = errors.attempt(_helpsteer2_preference, config, answer)
    neither = value == NEITHER_VALID
    text = errors.attempt(_justification, config, answer)
    if text is not None:
        errors.attempt(_helpsteer2_statement, config, text, neither)
    errors.raise_any()
    first, second = ("response_b", "response_a") if swapped else ("response_a", "response_b")
    return CanonicalAnswer(
        preference=None if neither else unswap(value, swapped),
        neither_valid=neither,
        ratings={first: shown["1"], second: shown["2"]},
        answers={"ratings": shown, "preference": value, "justification": text},
    )


def stated_preference(text: str) -> int | None:
    """The side the justification's first preference statement favours (-1 Response 1, +1 Response 2).

    Used to warn (not refuse) when the statement and the chosen preference disagree.
    """
    match = PREFERENCE_STATEMENT.search(text or "")
    if match is None:
        return None
    side = re.match(r"@Response\s*([12])", match.group(0))
    return -1 if side and side.group(1) == "1" else 1
