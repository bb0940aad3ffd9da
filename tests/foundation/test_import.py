"""Dataset import: the real PandaLM file, the common shapes, and every kind of malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from annotation.importing import DatasetImportError
from annotation.importing.readers import ReadPosition, iter_records
from annotation.importing.writer import import_file
from annotation.models import HumanLabel, Instance, LMLabel, Project

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int, int]:
    return (
        Project.objects.count(),
        Instance.objects.count(),
        HumanLabel.objects.count(),
        LMLabel.objects.count(),
    )


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def row(i: int, **extra) -> dict:
    return {"id": f"r{i}", "prompt": f"prompt {i}", "response_a": f"a {i}", "response_b": f"b {i}", **extra}


def test_pandalm_imports_with_its_labels_and_reimport_changes_nothing(pandalm_path, capsys):
    call_command("import_instances", "pandalm", str(pandalm_path))
    out = capsys.readouterr().out
    assert counts()[1:] == (999, 2997, 1973)
    assert "Wrote 999 new instances" in out and "2997 human votes and 1973 LM labels" in out
    # The file's messiness is kept and counted: 6 booleans as text, 54 empty responses, 25 null verdicts.
    assert "scalar response_a converted to text: 4" in out and "scalar response_b converted to text: 2" in out
    assert "empty response_a kept: 29" in out and "empty response_b kept: 25" in out
    assert "missing LM verdicts (gpt-3.5-turbo): 25" in out
    assert (
        Instance.objects.filter(response_a="True").exists()
        or Instance.objects.filter(response_b="True").exists()
    )
    assert (
        Instance.objects.filter(response_a="").count() + Instance.objects.filter(response_b="").count() == 54
    )

    call_command("import_instances", "pandalm", str(pandalm_path))
    out = capsys.readouterr().out
    assert counts()[1:] == (999, 2997, 1973)
    assert "Wrote 0 new instances" in out
    assert "999 instances were already in the project with the same content and labels" in out


def test_changed_reimport_is_refused_unless_update(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl", [row(1), row(2, human_labels=[{"annotator": "x", "label": "A"}])]
    )
    call_command("import_instances", "p", str(path))
    write_jsonl(path, [row(1), row(2, human_labels=[{"annotator": "x", "label": "B"}], response_a="new")])
    before = counts()
    with pytest.raises(CommandError, match=r"refused: 1 instance ids already exist .*'r2' at line 2"):
        call_command("import_instances", "p", str(path))
    assert counts() == before
    call_command("import_instances", "p", str(path), "--on-existing=update")
    instance = Instance.objects.get(external_id="r2")
    assert instance.response_a == "new"
    assert list(instance.human_labels.values_list("preference", flat=True)) == [1]
    assert counts() == before


def test_skip_keeps_stored_versions(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [row(1)])
    call_command("import_instances", "p", str(path))
    write_jsonl(path, [row(1, response_a="changed"), row(2)])
    call_command("import_instances", "p", str(path), "--on-existing=skip")
    assert Instance.objects.get(external_id="r1").response_a == "a 1"
    assert Instance.objects.count() == 2


MALFORMED = [
    (
        "truncated.jsonl",
        b'{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b"}\n{"id": "2", "prom',
        "line 2",
        "invalid JSON",
    ),
    (
        "missing.jsonl",
        b'{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b"}\n{"id": "2", "prompt": "p", "response_a": "a"}\n',
        "line 2",
        "field 'response_b': missing",
    ),
    (
        "object.jsonl",
        b'{"id": "1", "prompt": "p", "response_a": {"text": "a"}, "response_b": "b"}\n',
        "line 1",
        "field 'response_a': expected text, got an object",
    ),
    (
        "array.jsonl",
        b'{"id": "1", "prompt": "p", "response_a": "a", "response_b": ["b"]}\n',
        "line 1",
        "field 'response_b': expected text, got an array",
    ),
    (
        "null.jsonl",
        b'{"id": "1", "prompt": null, "response_a": "a", "response_b": "b"}\n',
        "line 1",
        "field 'prompt': expected text, got null",
    ),
    ("empty.jsonl", b"", "empty.jsonl", "the file is empty"),
    (
        "utf8.jsonl",
        b'{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b"}\n{"id": "2", "prompt": "caf\xe9", "response_a": "a", "response_b": "b"}\n',
        "line 2",
        "invalid UTF-8",
    ),
    (
        "dup.jsonl",
        b'{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b"}\n{"id": "1", "prompt": "q", "response_a": "a", "response_b": "b"}\n',
        "line 2",
        "field 'id': duplicate id '1' (first at line 1)",
    ),
    (
        "label.jsonl",
        b'{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b", "human_labels": [{"annotator": "x", "label": "C"}]}\n',
        "line 1",
        "field 'human_labels[0].label'",
    ),
    (
        "truncated.json",
        b'[{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b"},\n {"id": "2", "prompt": "p"',
        "item 2 (line 2)",
        "invalid JSON",
    ),
    (
        "unclosed.json",
        b'[{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b"}\n',
        "unclosed.json",
        "not closed",
    ),
    (
        "bad.csv",
        b"id,prompt,response_a,response_b\n1,p,a,b\n2,p,a\n",
        "line 3",
        "3 columns where the header has 4",
    ),
    ("blank.csv", b"\n\n", "blank.csv", "no records"),
]


@pytest.mark.parametrize("name, content, where, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_names_the_place_and_changes_nothing(tmp_path, name, content, where, message):
    good = write_jsonl(tmp_path / "good.jsonl", [row(1)])
    call_command("import_instances", "p", str(good))
    before = counts()
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError) as caught:
        call_command("import_instances", "p", str(path))
    assert name in str(caught.value) and where in str(caught.value) and message in str(caught.value)
    assert counts() == before
    # A failed import into a new project leaves no project behind.
    with pytest.raises(CommandError):
        call_command("import_instances", "fresh", str(path))
    assert not Project.objects.filter(name="fresh").exists()


def test_error_after_many_batches_rolls_back_everything(tmp_path):
    rows = [row(i) for i in range(1200)] + [{"id": "bad", "prompt": "p", "response_a": "a"}]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    project = Project.objects.create(name="p")
    with pytest.raises(DatasetImportError, match="line 1201, field 'response_b': missing"):
        import_file(project, path)
    assert Instance.objects.count() == 0


def test_common_shapes_map_onto_instances(tmp_path):
    rows = [
        {"idx": 7, "instruction": "Sum", "input": "1 2", "output_1": "3", "output_2": "4"},
        {"id": "cr", "prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."},
        {"id": "msg", "messages": [{"role": "user", "content": "Q1"}], "response_1": "x", "response_2": "y"},
        {
            "id": "chat",
            "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}],
            "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "bad"}],
        },
        {"prompt": "no id", "response_a": "a", "response_b": "b", "source": "web"},
    ]
    project = Project.objects.create(name="p")
    report = import_file(project, write_jsonl(tmp_path / "shapes.jsonl", rows))
    assert report.created == 5
    assert Instance.objects.get(external_id="7").prompt == "Sum\n\n1 2"
    chosen = Instance.objects.get(external_id="cr")
    assert (chosen.response_a, chosen.response_b) == ("Hello!", "Go away.")
    assert chosen.human_labels.get().preference == -1  # chosen/rejected is itself a label
    chat = Instance.objects.get(external_id="chat")
    assert chat.messages == [{"role": "user", "content": "Q"}] and chat.response_b == "bad"
    derived = Instance.objects.get(prompt="no id")
    assert derived.external_id.startswith("sha256:") and derived.metadata == {"source": "web"}
    # The derived id is stable: importing the same file again changes nothing.
    again = import_file(project, tmp_path / "shapes.jsonl")
    assert again.unchanged == 5 and Instance.objects.count() == 5


def test_json_array_csv_and_parquet(tmp_path, pandalm_path):
    project = Project.objects.create(name="p")
    rows = [row(i) for i in range(5)]
    (tmp_path / "a.json").write_text(json.dumps(rows, indent=2))
    assert import_file(project, tmp_path / "a.json").created == 5
    csv_text = "id,prompt,response_a,response_b\n" + "".join(
        f'c{i},"multi\nline, {i}",a,b\n' for i in range(3)
    )
    (tmp_path / "a.csv").write_text(csv_text)
    assert import_file(project, tmp_path / "a.csv").created == 3
    assert Instance.objects.get(external_id="c1").prompt == "multi\nline, 1"
    pq.write_table(pa.Table.from_pylist([row(i + 100) for i in range(4)]), tmp_path / "a.parquet")
    assert import_file(project, tmp_path / "a.parquet").created == 4
    # The original PandaLM test set is a JSON array with numeric ids and 0/1/2 votes kept as metadata.
    original = pandalm_path.parent / "testset-v1.json"
    report = import_file(Project.objects.create(name="orig"), original)
    assert report.created == 999


def test_large_files_stream(tmp_path):
    """Records come out while most of the file is still unread (100k rows, never read whole)."""
    path = tmp_path / "big.jsonl"
    with path.open("w") as fh:
        for i in range(100_000):
            fh.write(json.dumps(row(i)) + "\n")
    position = ReadPosition()
    records = iter_records(path, "jsonl", position)
    for _ in range(10):
        next(records)
    assert position.bytes_read < position.total_bytes / 100
    (tmp_path / "big.json").write_text("[" + ",\n".join(json.dumps(row(i)) for i in range(20_000)) + "]")
    position = ReadPosition()
    records = iter_records(tmp_path / "big.json", "json", position)
    next(records)
    assert position.bytes_read < position.total_bytes / 100
