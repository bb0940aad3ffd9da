"""Stream records out of JSONL, JSON-array, CSV and Parquet files without reading a file whole.

Each reader yields ``(location, record)`` where location says where the record sits ("line 12",
"item 3 (line 40)", "row 7") so that every later error can point at it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from annotation.importing.errors import DatasetImportError

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass
class ReadPosition:
    """How far a reader got, for progress reports."""

    bytes_read: int = 0
    total_bytes: int = 0
    records: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise DatasetImportError(
                f"unknown format {declared!r}; expected one of {FORMATS}", file=path.name
            )
        return declared
    fmt = _EXTENSIONS.get(path.suffix.lower())
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


def iter_records(path: Path, fmt: str, position: ReadPosition | None = None) -> Iterator[tuple[str, Any]]:
    """Yield (location, record) pairs; raise DatasetImportError naming the place of any syntax error."""
    position = position or ReadPosition()
    position.total_bytes = path.stat().st_size
    if position.total_bytes == 0:
        raise DatasetImportError("the file is empty", file=path.name)
    readers = {"jsonl": _jsonl, "json": _json_array, "csv": _csv, "tsv": _csv, "parquet": _parquet}
    any_record = False
    for location, record in readers[fmt](path, fmt, position):
        any_record = True
        position.records += 1
        yield location, record
    if not any_record:
        raise DatasetImportError("the file holds no records", file=path.name)


def _decoded_lines(fh: BinaryIO, path: Path, position: ReadPosition) -> Iterator[tuple[int, str]]:
    """Lines decoded one by one, so invalid UTF-8 is reported with its line number."""
    for number, raw in enumerate(fh, start=1):
        position.bytes_read += len(raw)
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise DatasetImportError(
                f"invalid UTF-8 (byte {error.start} of the line: {raw[error.start : error.start + 4]!r})",
                file=path.name,
                location=f"line {number}",
            ) from None
        yield number, text


def _jsonl(path: Path, fmt: str, position: ReadPosition) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as fh:
        for number, line in _decoded_lines(fh, path, position):
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetImportError(
                    f"invalid JSON at column {error.colno}: {error.msg}",
                    file=path.name,
                    location=f"line {number}",
                ) from None


def _json_array(path: Path, fmt: str, position: ReadPosition) -> Iterator[tuple[str, Any]]:
    """A top-level JSON array read incrementally: records are decoded as soon as they are complete."""
    decoder = json.JSONDecoder()
    buffer, buffer_line, item = "", 1, 0
    started = finished = False
    with path.open("rb") as fh:
        lines = _decoded_lines(fh, path, position)
        exhausted = False
        while True:
            buffer, buffer_line = _skip_space(buffer, buffer_line)
            if not buffer and not exhausted:
                try:
                    _, line = next(lines)
                    buffer += line
                    continue
                except StopIteration:
                    exhausted = True
            if not buffer and exhausted:
                break
            if finished:
                raise DatasetImportError(
                    "unexpected content after the closing ']'", file=path.name, location=f"line {buffer_line}"
                )
            if not started:
                if buffer[0] != "[":
                    raise DatasetImportError(
                        "a .json file must hold an array of records (or one JSON object per line)",
                        file=path.name,
                        location=f"line {buffer_line}",
                    )
                started, buffer = True, buffer[1:]
                continue
            if buffer[0] == "]":
                finished, buffer = True, buffer[1:]
                continue
            if buffer[0] == "," and item > 0:
                buffer = buffer[1:]
                continue
            try:
                record, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as error:
                if exhausted:
                    raise DatasetImportError(
                        f"invalid JSON: {error.msg}",
                        file=path.name,
                        location=f"item {item + 1} (line {buffer_line})",
                    ) from None
                try:
                    _, line = next(lines)
                    buffer += line
                except StopIteration:
                    exhausted = True
                continue
            item += 1
            yield f"item {item} (line {buffer_line})", record
            buffer_line += buffer.count("\n", 0, end)
            buffer = buffer[end:]
    if not started:
        raise DatasetImportError("the file is empty", file=path.name)
    if not finished:
        raise DatasetImportError(
            "the JSON array is not closed (truncated file?)", file=path.name, location="end"
        )


def _skip_space(buffer: str, line: int) -> tuple[str, int]:
    stripped = buffer.lstrip()
    return stripped, line + buffer.count("\n", 0, len(buffer) - len(stripped))


def _csv(path: Path, fmt: str, position: ReadPosition) -> Iterator[tuple[str, Any]]:
    delimiter = "\t" if fmt == "tsv" else ","
    with path.open("rb") as fh:
        numbered = _decoded_lines(fh, path, position)
        current = {"line": 0}

        def lines() -> Iterator[str]:
            for number, text in numbered:
                current["line"] = number
                yield text

        reader = csv.reader(lines(), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DatasetImportError(f"invalid CSV: {error}", file=path.name, location="line 1") from None
        if len(set(header)) != len(header):
            raise DatasetImportError("the header repeats a column name", file=path.name, location="line 1")
        while True:
            start = current["line"] + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise DatasetImportError(
                    f"invalid CSV: {error}", file=path.name, location=f"line {start}"
                ) from None
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetImportError(
                    f"{len(row)} columns where the header has {len(header)}",
                    file=path.name,
                    location=f"line {start}",
                )
            yield f"line {start}", dict(zip(header, row, strict=True))


def _parquet(path: Path, fmt: str, position: ReadPosition) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise DatasetImportError(f"not a readable Parquet file: {error}", file=path.name) from None
    row = 0
    for batch in parquet.iter_batches(batch_size=2048):
        for record in batch.to_pylist():
            row += 1
            yield f"row {row}", record
        position.bytes_read = round(position.total_bytes * row / max(parquet.metadata.num_rows, 1))
