"""Checks shared by the readers: nesting depth, JSON's non-numbers, and JSON syntax errors as sentences."""

from __future__ import annotations

import json
import re
from typing import Any

# What Python's json module means by each of its terse messages, said as a whole clause.
_JSON_PROBLEMS = {
    "Invalid control character at": "a raw control character (a line break, tab or similar) inside a string",
    "Unterminated string starting at": "a string that is never closed",
    "Expecting value": "a value is missing",
    "Expecting ',' delimiter": "a ',' is missing between two values",
    "Expecting ':' delimiter": "a ':' is missing after a key",
    "Expecting property name enclosed in double quotes": "a key is not a double-quoted string",
    "Extra data": "more than one JSON value on the line",
    "Invalid \\escape": "an invalid backslash escape inside a string",
    "Invalid \\uXXXX escape": "an invalid \\u escape inside a string",
}
_KEY = re.compile(r'"((?:[^"\\\n]|\\.){0,200})"\s*:')
_CONSTANT_FIELD = r'"((?:[^"\\\n]|\\.){{0,200}})"\s*:\s*{}'


class NonJSONConstant(ValueError):
    """NaN, Infinity or -Infinity: Python's json accepts them, JSON does not."""

    def __init__(self, constant: str):
        super().__init__(constant)
        self.constant = constant


def refuse_constant(name: str) -> Any:
    """``parse_constant`` hook for json.loads: a bare NaN must never become the text "nan"."""
    raise NonJSONConstant(name)


def constant_sentence(text: str, constant: str) -> str:
    """Why a line holding NaN/Infinity is refused, naming the field when it can be found."""
    match = re.search(_CONSTANT_FIELD.format(re.escape(constant)), text)
    where = f" in field {match.group(1)!r}" if match else ""
    return (
        f"{constant}{where} is not JSON (a missing value written by a tool that is not a JSON writer); "
        "write null for a missing value or a quoted string for text"
    )


def json_error_sentence(text: str, error: json.JSONDecodeError, *, cut_short: bool) -> str:
    """'invalid JSON at column 31 in field 'prompt': a string that is never closed; ...' as one sentence."""
    problem = _JSON_PROBLEMS.get(error.msg, error.msg[:1].lower() + error.msg[1:])
    sentence = f"invalid JSON at column {error.colno}{_field_near(text, error.pos)}: {problem}"
    if cut_short:
        sentence += "; the line ends before the record does (was the file cut short?)"
    return sentence


def _field_near(text: str, pos: int) -> str:
    """' in field 'x'' when the error sits in x's value, ' after field 'x'' when it sits in the next key."""
    keys = list(_KEY.finditer(text, 0, pos))
    if not keys:
        return ""
    before = text[:pos].rstrip()
    relation = "after" if before.endswith((",", "{")) else "in"
    return f" {relation} field {keys[-1].group(1)!r}"


def too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects/arrays deeper than ``limit`` (the record itself is depth 1).
    Iterative, so a deep record cannot exhaust the stack of the check meant to stop it."""
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
