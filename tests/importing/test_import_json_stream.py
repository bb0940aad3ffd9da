"""The JSON-array reader streams with ijson: a one-line array gives records long before it is read whole, in
pieces whose size does not depend on the file; pretty-printed arrays keep their line numbers."""

from __future__ import annotations

import json

import pytest

from annotation.importing import DatasetImportError
from annotation.importing.json_array import PIECE
from annotation.importing.limits import ImportLimits
from annotation.importing.readers import ReadPosition, iter_records


def row(i: int) -> dict:
    return {"id": f"r{i}", "prompt": f"prompt {i}", "response_a": "a" * 200, "response_b": "b" * 200}


def test_a_one_line_array_streams_in_pieces(tmp_path):
    path = tmp_path / "one-line.json"
    path.write_text(json.dumps([row(i) for i in range(20_000)]))  # about 9 MB on one line
    position = ReadPosition()
    records = iter_records(path, "json", position)
    location, first = next(records)
    assert (location, first["id"]) == ("item 1 (line 1)", "r0")
    assert position.bytes_read <= PIECE < position.total_bytes / 100
    assert sum(1 for _ in records) == 19_999


def test_items_keep_their_lines_and_values(tmp_path):
    rows = [row(0), {**row(1), "meta": {"tags": [1, 2.5, None, True]}}, row(2)]
    path = tmp_path / "pretty.json"
    path.write_text("\ufeff" + json.dumps(rows, indent=2))
    records = list(iter_records(path, "json"))
    assert [r for _, r in records] == rows
    lines = [int(location.split("line ")[1].rstrip(")")) for location, _ in records]
    text = path.read_text(encoding="utf-8-sig").splitlines()
    assert [text[n - 1].strip() for n in lines] == ["{"] * 3 and lines[0] == 2


@pytest.mark.parametrize(
    "content, location, message",
    [
        (b'[{"id": 1, "x": NaN}]', "item 1 (line 1)", "NaN or Infinity is not JSON"),
        (b'[{"id": 1}, {"id": 2', "item 2 (line 1)", "the file ends inside this item"),
        (b'[{"id": 1}] [', "line 1", "unexpected content after the closing ']'"),
        (b'{"id": 1}\n{"id": 2}\n', "", ""),  # one object per line: read as JSONL, not an error
        (b'"text"', "line 1", "must hold an array of records"),
        (b"  \n ", "", "the file is empty"),
        (b"[]", "", "the file holds no records"),
        (b'[{"id": "\xff"}]', "item 1 (line 1)", "invalid UTF-8 inside a string"),
    ],
)
def test_broken_arrays_are_refused_with_a_place(tmp_path, content, location, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    if not message:
        assert len(list(iter_records(path, "jsonl"))) == 2
        return
    with pytest.raises(DatasetImportError) as caught:
        list(iter_records(path, "json"))
    assert location in str(caught.value) and message in str(caught.value)


def test_an_item_growing_past_the_record_cap_is_refused_while_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps([row(0), {"id": "big", "prompt": "x" * 1_000_000}, row(2)]))
    position = ReadPosition()
    with pytest.raises(
        DatasetImportError, match=r"item 2 \(line 1\): the item is larger than the record size"
    ):
        list(iter_records(path, "json", position, ImportLimits(max_record_bytes=200_000)))
    assert position.bytes_read < 200_000 + 2 * PIECE
