"""Query parameters read the same way everywhere: bounded, ASCII, and a 400 naming the parameter otherwise.

``str.isdigit`` accepts "²" and "٣", and a 30-digit id overflows the database's integer: both ended in 500s.
"""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

# The largest id a database primary key (64-bit signed) can hold.
MAX_ID = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def id_param(request: Request, name: str) -> int | None:
    """The query parameter ``name`` as a database id, None when absent or empty."""
    text = request.query_params.get(name)
    if not text:
        return None
    if not _ASCII_DIGITS.fullmatch(text) or not 0 < int(text) <= MAX_ID:
        raise ValidationError(
            {name: f"must be a positive id (ASCII digits, at most {MAX_ID}); got {text[:40]!r}"}
        )
    return int(text)
