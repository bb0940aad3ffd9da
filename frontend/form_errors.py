"""Serializer errors as sentences for the pages' forms (the pages validate with the API's serializers)."""

from __future__ import annotations

from typing import Any


def error_texts(problems: Any) -> list[str]:
    """The messages in a serializer error, however nested (a list field's errors are keyed by index)."""
    if isinstance(problems, dict):
        return [text for value in problems.values() for text in error_texts(value)]
    if isinstance(problems, list):
        return [text for value in problems for text in error_texts(value)]
    return [str(problems)]


def error_lines(errors: dict[str, Any]) -> dict[str, str]:
    """Serializer errors as one line per field, keyed by field name."""
    return {field: " ".join(error_texts(problems)) for field, problems in errors.items()}
