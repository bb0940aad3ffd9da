"""Strict parsing of judge and tagger outputs.

The rule (docs/METHOD.md, LM judge): an answer either matches the format asked for, or it is kept raw,
counted and reported. Nothing is guessed: "A is better because..." is NOT read as A, and a rating of 5 on a
0-4 scale is not clipped to 4. Accepted leniency is small and listed here: surrounding whitespace, one pair of
matching quotes or backticks, one trailing period, case-insensitive labels (only when the labels stay distinct
that way), and a JSON object wrapped in one Markdown code fence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


@dataclass(frozen=True)
class ParseResult:
    """``value`` is the parsed answer (an int for choices, a dict for ratings/JSON) or None with ``error``."""

    value: Any = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def _strip_wrapping(text: str) -> str:
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        s = s[1:-1].strip()
    if s.endswith(".") and not s.endswith(".."):
        s = s[:-1].strip()
    return s


def parse_choice(text: str | None, labels: dict[str, int]) -> ParseResult:
    """The preference for an answer that is exactly one label, else an error naming what was wrong."""
    if text is None:
        return ParseResult(error="no output")
    if not isinstance(text, str):
        return ParseResult(error=f"output is {type(text).__name__}, not text")
    s = _strip_wrapping(text)
    if not s:
        return ParseResult(error="empty output")
    if s in labels:
        return ParseResult(value=labels[s], extra={"label": s})
    folded = {k.casefold(): k for k in labels}
    if len(folded) == len(labels) and s.casefold() in folded:
        label = folded[s.casefold()]
        return ParseResult(value=labels[label], extra={"label": label})
    shown = s if len(s) <= 40 else s[:37] + "..."
    return ParseResult(error=f"not one of {sorted(labels)}: {shown!r}")


def load_json_object(text: str | None) -> ParseResult:
    """A JSON object from the whole output (optionally inside one code fence), else an error."""
    if text is None:
        return ParseResult(error="no output")
    if not isinstance(text, str):
        return ParseResult(error=f"output is {type(text).__name__}, not text")
    s = text.strip()
    fenced = _FENCE.match(s)
    if fenced:
        s = fenced.group(1).strip()
    if not s:
        return ParseResult(error="empty output")
    try:
        value = json.loads(s)
    except (json.JSONDecodeError, RecursionError) as error:
        return ParseResult(error=f"not JSON: {str(error)[:80]}")
    if not isinstance(value, dict):
        return ParseResult(error=f"JSON {type(value).__name__}, expected an object")
    return ParseResult(value=value)


def _rating(value: object) -> int | None:
    # bool is an int subclass in Python: true/false are not ratings.
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= 4 else None


def parse_helpsteer2(text: str | None, attributes: tuple[str, ...]) -> ParseResult:
    """``{"response_a": {attr: 0..4}, "response_b": {...}}`` with exactly these keys, integer ratings."""
    loaded = load_json_object(text)
    if not loaded.ok:
        return loaded
    obj = loaded.value
    if set(obj) != {"response_a", "response_b"}:
        return ParseResult(error=f"keys {sorted(map(str, obj))}, expected response_a and response_b")
    ratings: dict[str, dict[str, int]] = {}
    for key in ("response_a", "response_b"):
        block = obj[key]
        if not isinstance(block, dict) or set(block) != set(attributes):
            return ParseResult(error=f"{key} must hold exactly {list(attributes)}")
        parsed = {a: _rating(block[a]) for a in attributes}
        bad = [a for a, v in parsed.items() if v is None]
        if bad:
            return ParseResult(error=f"{key}: {bad} not an integer 0-4")
        ratings[key] = {a: int(v) for a, v in parsed.items() if v is not None}
    return ParseResult(value=ratings)
