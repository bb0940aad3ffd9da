"""Stream records out of JSONL, JSON-array, CSV and Parquet files without reading a file whole.

Each reader yields ``(location, record)`` where location says where the record sits ("line 12",
"item 3 (line 40)", "row 7") so that every later error can point at it. Every reader works under the caps of
``ImportLimits`` (file size, record size, nesting depth, record count; Parquet also decompressed size and
memory): what exceeds one is refused with a sentence naming the cap and the setting that changes it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotation.importing.checks import (
    NonJSONConstant,
    constant_sentence,
    json_error_sentence,
    refuse_constant,
    too_deep,
)
from annotation.importing.errors import DatasetImportError
from annotation.importing.json_array import read_json_array
from annotation.importing.limits import DEFAULT_LIMITS, ImportLimits
from annotation.importing.lines import ReadPosition, decoded_lines
from annotation.importing.parquet_reader import read_parquet

__all__ = ["FORMATS", "FORMAT_OF_EXTENSION", "ReadPosition", "detect_format", "iter_records"]

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")
FORMAT_OF_EXTENSION = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Cells pandas writes for a missing value once a column went through ``astype(str)``: read as NaN, so the
# mapper treats them as missing rather than as the text "nan".
_CSV_MISSING = frozenset({"NaN", "nan"})


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise DatasetImportError(
                f"unknown format {declared!r}; expected one of {FORMATS}", file=path.name
            )
        return declared
    fmt = FORMAT_OF_EXTENSION.get(path.suffix.lower())
    if fmt is None:
        raise DatasetImportError(
            f"cannot tell the format from the extension {path.suffix!r}; name it with --format",
            file=path.name,
        )
    if fmt == "json" and _first_significant_byte(path) == b"{":
        return "jsonl"  # a .json file of one object per line
    return fmt


def _first_significant_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[:1]
    return b""


def iter_records(
    path: Path, fmt: str, position: ReadPosition | None = None, limits: ImportLimits = DEFAULT_LIMITS
) -> Iterator[tuple[str, Any]]:
    """Yield (location, record) pairs; raise DatasetImportError naming the place of any syntax error."""
    position = position or ReadPosition()
    position.total_bytes = path.stat().st_size
    if position.total_bytes == 0:
        raise DatasetImportError("the file is empty", file=path.name)
    if position.total_bytes > limits.max_total_bytes:
        raise DatasetImportError(
            f"the file holds {position.total_bytes:,} bytes, more than {limits.describe('max_total_bytes')}",
            file=path.name,
        )
    readers = {"jsonl": _jsonl, "json": read_json_array, "csv": _csv, "tsv": _csv, "parquet": read_parquet}
    for location, record in readers[fmt](path, fmt, position, limits):
        position.records += 1
        _check_record(path, location, record, position.records, limits)
        yield location, record
    if not position.records:
        raise DatasetImportError("the file holds no records", file=path.name)


def _check_record(path: Path, location: str, record: Any, count: int, limits: ImportLimits) -> None:
    if count > limits.max_rows:
        raise DatasetImportError(
            f"the file holds more records than {limits.describe('max_rows')}",
            file=path.name,
            location=location,
        )
    if too_deep(record, limits.max_depth):
        raise DatasetImportError(
            f"the record nests objects and arrays deeper than {limits.describe('max_depth')}",
            file=path.name,
            location=location,
        )


def _jsonl(path: Path, fmt: str, position: ReadPosition, limits: ImportLimits) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as fh:
        for number, line in decoded_lines(fh, path, position, limits):
            if line.strip():
                yield f"line {number}", _parse_line(path, number, line)


def _parse_line(path: Path, number: int, line: str) -> Any:
    """One JSONL line: NaN/Infinity, syntax errors and hopeless nesting all become sentences with a place."""
    location = f"line {number}"
    try:
        return json.loads(line, parse_constant=refuse_constant)
    except NonJSONConstant as error:
        message = constant_sentence(line, error.constant)
    except json.JSONDecodeError as error:
        message = json_error_sentence(line, error, cut_short=_ends_early(line, error))
    except RecursionError:
        message = "the record nests objects and arrays too deeply to be read"
    raise DatasetImportError(message, file=path.name, location=location)


def _ends_early(line: str, error: json.JSONDecodeError) -> bool:
    """The last line, without its newline, stopping inside a string or right where more was expected."""
    if line.endswith("\n"):
        return False
    return error.msg.startswith("Unterminated") or error.pos >= len(line.rstrip())


def _csv(path: Path, fmt: str, position: ReadPosition, limits: ImportLimits) -> Iterator[tuple[str, Any]]:
    # csv's own field cap (128 KiB by default) would refuse legitimate long responses with a terse error;
    # the record cap on the lines that make up a row is what bounds memory here.
    csv.field_size_limit(limits.max_record_bytes)
    delimiter = "\t" if fmt == "tsv" else ","
    with path.open("rb") as fh:
        rows = _CsvRows(path, fh, position, limits)
        reader = csv.reader(rows.lines(), delimiter=delimiter)
        header = rows.header(reader)
        if header is None:
            return
        while (row := rows.next_row(reader)) is not None:
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetImportError(
                    f"{len(row)} columns where the header has {len(header)}",
                    file=path.name,
                    location=f"line {rows.start}",
                )
            yield (
                f"line {rows.start}",
                {
                    name: float("nan") if cell in _CSV_MISSING else cell
                    for name, cell in zip(header, row, strict=True)
                },
            )


class _CsvRows:
    """Feeds csv.reader decoded lines, knows on which line the current row started and how large it got."""

    def __init__(self, path: Path, fh, position: ReadPosition, limits: ImportLimits):
        self.path, self.limits = path, limits
        self.numbered = decoded_lines(fh, path, position, limits)
        self.line = 0
        self.start = 1
        self.row_bytes = 0

    def lines(self) -> Iterator[str]:
        for number, text in self.numbered:
            self.line = number
            self.row_bytes += len(text)
            if self.row_bytes > self.limits.max_record_bytes:
                raise DatasetImportError(
                    f"the row is larger than {self.limits.describe('max_record_bytes')}; it was not read whole",
                    file=self.path.name,
                    location=f"line {self.start}",
                )
            yield text

    def header(self, reader) -> list[str] | None:
        try:
            header = next(reader)
        except StopIteration:
            return None
        except csv.Error as error:
            raise DatasetImportError(
                f"invalid CSV: {error}", file=self.path.name, location="line 1"
            ) from None
        if len(set(header)) != len(header):
            raise DatasetImportError(
                "the header repeats a column name", file=self.path.name, location="line 1"
            )
        return header

    def next_row(self, reader) -> list[str] | None:
        self.start, self.row_bytes = self.line + 1, 0
        try:
            return next(reader)
        except StopIteration:
            return None
        except csv.Error as error:
            raise DatasetImportError(
                f"invalid CSV: {error}", file=self.path.name, location=f"line {self.start}"
            ) from None
