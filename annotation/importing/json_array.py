"""A top-level JSON array streamed with ijson (yajl in C): records come out as soon as each is complete.

The file is fed to ijson's push parser in pieces of at most one line or 64 KiB, so a pretty-printed file's
records are located by line and a one-line array of any size is read in bounded memory and linear time. The
records are assembled here from ijson's events rather than by ijson itself, so that nesting deeper than the
cap is refused at the first bracket too many, before the deep value exists, and a record that grows past the
record size cap is refused while it is still being read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from annotation.importing.errors import DatasetImportError
from annotation.importing.limits import ImportLimits
from annotation.importing.lines import ReadPosition

PIECE = 64 * 1024
_SCALARS = {"string", "number", "integer", "double", "boolean", "null"}
_BOM = b"\xef\xbb\xbf"


class _NotAnArray(Exception):
    pass


class _TooDeep(Exception):
    pass


class RecordAssembler:
    """Builds the array's items from ijson's basic events; knows when the closing ']' was seen."""

    def __init__(self, max_depth: int):
        self.max_depth = max_depth
        self.started = self.finished = False
        self.open: list[dict | list] = []  # the containers of the item being built, outermost first
        self.keys: list[Any] = []  # the pending key of each open object
        self.line = 1  # the line being read, set by the reader
        self.item_line = 1  # the line on which the item being built started
        self.complete: list[tuple[int, Any]] = []  # (line the item started on, item)

    @property
    def inside_item(self) -> bool:
        return bool(self.open)

    def feed(self, event: str, value: Any) -> None:
        if not self.started:
            if event != "start_array":
                raise _NotAnArray
            self.started = True
        elif not self.open and event == "end_array":
            self.finished = True
        elif event in ("start_map", "start_array"):
            self._push({} if event == "start_map" else [])
        elif event == "map_key":
            self.keys[-1] = value
        elif event in ("end_map", "end_array"):
            self._pop()
        elif event in _SCALARS:
            self._place(value)

    def _push(self, container: dict | list) -> None:
        if len(self.open) >= self.max_depth:
            raise _TooDeep
        if not self.open:
            self.item_line = self.line
        self._place(container)
        self.open.append(container)
        self.keys.append(None)

    def _pop(self) -> None:
        self.keys.pop()
        done = self.open.pop()
        if not self.open:
            self.complete.append((self.item_line, done))

    def _place(self, value: Any) -> None:
        if not self.open:
            if not isinstance(value, dict | list):
                self.complete.append((self.line, value))  # a bare scalar; the mapper says it is no record
            return
        parent = self.open[-1]
        if isinstance(parent, dict):
            parent[self.keys[-1]] = value
        else:
            parent.append(value)


def read_json_array(
    path: Path, fmt: str, position: ReadPosition, limits: ImportLimits
) -> Iterator[tuple[str, Any]]:
    """Yield ("item N (line L)", record) for each item of the file's top-level array."""
    reader = _ArrayReader(path, position, limits)
    yield from reader.records()


class _ArrayReader:
    def __init__(self, path: Path, position: ReadPosition, limits: ImportLimits):
        self.path, self.position, self.limits = path, position, limits
        self.events = ijson.sendable_list()
        self.parser = ijson.basic_parse_coro(self.events, use_float=True)
        self.assembler = RecordAssembler(limits.max_depth)
        self.line = 1  # the line the next piece starts on
        self.item = 0
        self.unfinished_bytes = 0  # bytes fed since the last item was completed

    def records(self) -> Iterator[tuple[str, Any]]:
        with self.path.open("rb") as fh:
            first = True
            while piece := fh.readline(PIECE):
                if first and piece.startswith(_BOM):
                    piece, first = piece[len(_BOM) :], False
                first = False
                self.position.bytes_read += len(piece)
                yield from self._feed(piece)
                self.line += piece.endswith(b"\n")
            yield from self._close()

    def _feed(self, piece: bytes) -> Iterator[tuple[str, Any]]:
        try:
            self.parser.send(piece)
        except ijson.JSONError as error:
            self._absorb_events()
            raise self._syntax_error(error) from None
        yield from self._assemble()
        self.unfinished_bytes += len(piece)
        if self.assembler.inside_item and self.unfinished_bytes > self.limits.max_record_bytes:
            raise DatasetImportError(
                f"the item is larger than {self.limits.describe('max_record_bytes')}; it was not read whole",
                file=self.path.name,
                location=self._location(),
            )

    def _close(self) -> Iterator[tuple[str, Any]]:
        try:
            self.parser.close()
        except ijson.JSONError as error:
            if self.assembler.started and not self.assembler.inside_item:
                raise DatasetImportError(
                    "the JSON array is not closed (truncated file?)", file=self.path.name, location="end"
                ) from None
            if not self.assembler.started and not self.events:
                raise DatasetImportError("the file is empty", file=self.path.name) from None
            raise self._syntax_error(error) from None
        yield from self._assemble()

    def _assemble(self) -> Iterator[tuple[str, Any]]:
        assembler = self.assembler
        assembler.line = self.line
        for event, value in self.events:
            try:
                assembler.feed(event, value)
            except _NotAnArray:
                raise DatasetImportError(
                    "a .json file must hold an array of records (or one JSON object per line)",
                    file=self.path.name,
                    location=f"line {self.line}",
                ) from None
            except _TooDeep:
                raise DatasetImportError(
                    f"the item nests objects and arrays deeper than {self.limits.describe('max_depth')}",
                    file=self.path.name,
                    location=self._location(),
                ) from None
        self.events.clear()
        if assembler.complete:
            self.unfinished_bytes = 0
            for line, record in assembler.complete:
                self.item += 1
                yield f"item {self.item} (line {line})", record
            assembler.complete.clear()

    def _absorb_events(self) -> None:
        """Bring the item count up to the error's position (the piece's events before it were parsed)."""
        try:
            for _ in self._assemble():
                pass
        except DatasetImportError:
            pass

    def _location(self) -> str:
        if self.assembler.finished or not self.assembler.started:
            return f"line {self.line}"
        line = self.assembler.item_line if self.assembler.inside_item else self.line
        return f"item {self.item + 1} (line {line})"

    def _syntax_error(self, error: Exception) -> DatasetImportError:
        """yajl's message ('parse error: premature EOF' + a context line) as a sentence with a place."""
        text = error.args[0] if error.args else str(error)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        problem = lines[0].rstrip(".") if lines else "unreadable JSON"
        context = lines[1][:60] if len(lines) > 1 and "(right here)" not in lines[1] else ""
        if "invalid char" in problem and any(c in context for c in ("NaN", "Infinity")):
            problem = "NaN or Infinity is not JSON (write null for a missing value)"
        elif "premature EOF" in problem:
            problem = "the file ends inside this item (was it cut short?)"
        elif "trailing garbage" in problem:
            problem = "unexpected content after the closing ']'"
        elif "invalid bytes in UTF8" in problem:
            problem = "invalid UTF-8 inside a string"
        near = f" near {context!r}" if context else ""
        return DatasetImportError(
            f"invalid JSON: {problem}{near} (within the first {self.position.bytes_read:,} bytes)",
            file=self.path.name,
            location=self._location(),
        )
