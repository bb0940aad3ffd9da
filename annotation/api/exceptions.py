"""The API's exception handler: DRF's, plus a safety net behind the specific input checks.

Deep nesting or an out-of-range number that still reaches a view becomes a 400 that says what was wrong,
instead of a 500; the specific checks (parser depth limit, bounded serializer fields) come first.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus 400 for deep nesting and out-of-range numbers that escaped the specific checks."""
    response = exception_handler(exc, context)
    if response is not None:
        return response
    if isinstance(exc, RecursionError):
        detail = "The request is nested too deeply to be processed."
    elif isinstance(exc, OverflowError):
        detail = f"A number in the request is out of range: {str(exc)[:200]}"
    else:
        return None
    view = context.get("view")
    where = f" ({type(view).__name__})" if view is not None else ""
    return Response({"detail": detail + where}, status=status.HTTP_400_BAD_REQUEST)
