"""Reading a file line by line with a cap on each line, and keeping count of how far the reader got.

A plain ``for line in file`` reads a line whole however long it is: one 300 MB line would be in memory before
any check could refuse it. ``readline(limit)`` stops at the cap instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from annotation.importing.errors import DatasetImportError
from annotation.importing.limits import ImportLimits


@dataclass
class ReadPosition:
    """How far a reader got, for progress reports."""

    bytes_read: int = 0
    total_bytes: int = 0
    records: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def capped_lines(
    fh: BinaryIO, path: Path, position: ReadPosition, limits: ImportLimits
) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) for each line; a line longer than the record cap is refused unread."""
    cap = limits.max_record_bytes
    number = 0
    while raw := fh.readline(cap + 1):
        number += 1
        position.bytes_read += len(raw)
        if len(raw) > cap and not (len(raw) == cap + 1 and raw.endswith(b"\n")):
            raise DatasetImportError(
                f"the line is longer than {limits.describe('max_record_bytes')}; it was not read",
                file=path.name,
                location=f"line {number}",
            )
        yield number, raw


def decoded_lines(
    fh: BinaryIO, path: Path, position: ReadPosition, limits: ImportLimits
) -> Iterator[tuple[int, str]]:
    """Lines decoded one by one, so invalid UTF-8 is reported with its line number."""
    for number, raw in capped_lines(fh, path, position, limits):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise DatasetImportError(
                f"invalid UTF-8 (byte {error.start} of the line: {raw[error.start : error.start + 4]!r})",
                file=path.name,
                location=f"line {number}",
            ) from None
        yield number, text
