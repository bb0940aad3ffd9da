"""JSON request bodies with a nesting limit (the parser every API view uses).

A 50,000-deep JSON document used to reach the views (even anonymously, on the token endpoint) and end in a
RecursionError, a 500. This parser refuses bodies nested deeper than ``API_JSON_MAX_DEPTH`` with a 400 that
says so, before any view runs. (Kept apart from views: DRF imports its parser classes while loading
``rest_framework.views``.)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def nesting_depth(value: Any, limit: int) -> int:
    """Depth of lists/objects in ``value``, counted without recursion; stops counting past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing documents nested deeper than ``API_JSON_MAX_DEPTH`` levels."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        limit = settings.API_JSON_MAX_DEPTH
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError(f"JSON body: nested deeper than {limit} levels") from error
        if nesting_depth(data, limit) > limit:
            raise ParseError(f"JSON body: nested deeper than {limit} levels")
        return data
