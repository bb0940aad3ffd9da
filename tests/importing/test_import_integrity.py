"""Import integrity on real-world messiness (issue 10.9): NaN is never a response, invisible responses are
empty, repeated annotators follow an explicit policy, a truncated line is explained in a whole sentence."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from annotation.importing import DatasetImportError
from annotation.importing.writer import import_file
from annotation.models import HumanLabel, Instance, Job, Project
from annotation.tasks import import_instances_task

pytestmark = pytest.mark.django_db


def row(i: int, **extra) -> dict:
    return {"id": f"r{i}", "prompt": f"prompt {i}", "response_a": f"a {i}", "response_b": f"b {i}", **extra}


@pytest.fixture
def proj(db) -> Project:
    return Project.objects.create(name="integrity")


def test_a_bare_nan_response_is_refused_not_stored_as_text(tmp_path, proj):
    path = tmp_path / "nan.jsonl"
    path.write_text(
        json.dumps(row(1)) + "\n" + '{"id": "r2", "prompt": "p", "response_a": NaN, "response_b": "b"}\n'
    )
    with pytest.raises(DatasetImportError) as caught:
        import_file(proj, path)
    message = str(caught.value)
    assert "nan.jsonl, line 2" in message and "NaN in field 'response_a' is not JSON" in message
    assert not Instance.objects.filter(response_a__iexact="nan").exists()


def test_infinity_in_metadata_is_refused_too(tmp_path, proj):
    path = tmp_path / "inf.jsonl"
    path.write_text('{"id": "r1", "prompt": "p", "response_a": "a", "response_b": "b", "score": -Infinity}\n')
    with pytest.raises(DatasetImportError, match="-Infinity in field 'score' is not JSON"):
        import_file(proj, path)


def test_pandas_nan_in_parquet_and_csv_text_is_missing_not_nan(tmp_path, proj):
    table = pa.table(
        {
            "id": ["p1", "p2"],
            "prompt": ["q", "q"],
            "response_a": ["a", "a"],
            "response_b": pa.array([float("nan"), float("nan")]),  # a text column pandas wrote as floats
        }
    )
    pq.write_table(table, tmp_path / "nan.parquet")
    with pytest.raises(DatasetImportError) as caught:
        import_file(proj, tmp_path / "nan.parquet")
    assert "row 1, field 'response_b': missing" in str(caught.value)
    (tmp_path / "nan.csv").write_text("id,prompt,response_a,response_b\nc1,q,a,nan\n")
    with pytest.raises(DatasetImportError, match="line 2, field 'response_b': missing"):
        import_file(proj, tmp_path / "nan.csv")
    # In metadata NaN is a missing value too (JSON has no NaN to store).
    (tmp_path / "meta.csv").write_text("id,prompt,response_a,response_b,score\nc1,q,a,b,NaN\n")
    import_file(proj, tmp_path / "meta.csv")
    assert Instance.objects.get(external_id="c1").metadata == {"score": None}


@pytest.mark.parametrize("invisible", ["\u200b", " \u200c\u200d ", "\u2060\n", "\ufeff", "\t \u200b "])
def test_invisible_only_responses_are_empty(tmp_path, proj, invisible):
    path = tmp_path / "zw.jsonl"
    path.write_text(json.dumps(row(1, response_b=invisible)) + "\n")
    report = import_file(proj, path)
    assert Instance.objects.get().response_b == ""
    assert report.notes["empty response_b kept"] == 1
    assert report.notes["invisible-only response_b stored empty"] == 1
    # Re-importing the same file is recognised as unchanged.
    assert import_file(proj, path).unchanged == 1


REPEATED = row(
    1,
    human_labels=[
        {"annotator": "ann", "label": "A"},
        {"annotator": "other", "label": "B"},
        {"annotator": "ann", "label": "B"},
        {"annotator": "ann", "label": "tie"},
    ],
)


def votes() -> list[tuple[str, int]]:
    return sorted(HumanLabel.objects.values_list("annotator_ref", "preference"))


def test_a_repeated_annotator_is_refused_by_default_with_the_way_through(tmp_path, proj):
    path = tmp_path / "rep.jsonl"
    path.write_text(json.dumps(REPEATED) + "\n")
    with pytest.raises(DatasetImportError) as caught:
        import_file(proj, path)
    message = str(caught.value)
    assert "line 1, field 'human_labels[2].annotator'" in message and "votes more than once" in message
    assert "--on-repeated-annotator=first, last or keep" in message


@pytest.mark.parametrize(
    "policy, expected, note",
    [
        ("first", [("ann", -1), ("other", 1)], "repeated votes dropped (kept each annotator's first)"),
        ("last", [("ann", 0), ("other", 1)], "repeated votes dropped (kept each annotator's last)"),
        (
            "keep",
            [("ann", -1), ("ann#2", 1), ("ann#3", 0), ("other", 1)],
            "repeated votes kept as separate annotators (name#2, name#3...)",
        ),
    ],
)
def test_repeated_annotator_policies_are_applied_and_counted(tmp_path, capsys, policy, expected, note):
    path = tmp_path / "rep.jsonl"
    path.write_text(json.dumps(REPEATED) + "\n")
    call_command("import_instances", "rep", str(path), f"--on-repeated-annotator={policy}")
    assert votes() == expected
    out = capsys.readouterr().out
    assert f"{note}: 2" in out and "items with a repeated annotator: 1" in out
    call_command("import_instances", "rep", str(path), f"--on-repeated-annotator={policy}")
    assert "1 instances were already in the project" in capsys.readouterr().out


def test_the_upload_api_takes_the_policy_and_the_job_result_counts_it(api_client, researcher, project):
    api_client.force_authenticate(researcher)
    data = io.BytesIO(json.dumps(REPEATED).encode() + b"\n")
    data.name = "rep.jsonl"
    response = api_client.post(
        "/api/projects/proj/imports/", {"file": data, "on_repeated_annotator": "last"}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    import_instances_task(response.json()["id"])
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["on_repeated_annotator"] == "last"
    assert job.result["notes"]["repeated votes dropped (kept each annotator's last)"] == 2
    assert votes() == [("ann", 0), ("other", 1)]


CUT = "; the line ends before the record does (was the file cut short?)"


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            '{"id": "2", "prompt": "a\tb", "response_a": "a", "response_b": "b"}',
            "column 25 in field 'prompt': a raw control character (a line break, tab or similar) inside a string",
        ),
        (
            '{"id": "2", "prompt": "the answer is',
            "column 23 in field 'prompt': a string that is never closed" + CUT,
        ),
        ('{"id": "2", "prom', "column 13 after field 'id': a string that is never closed" + CUT),
        ('{"id": "2", "prompt": }', "column 23 in field 'prompt': a value is missing"),
        (
            '{"id": "2", "prompt": "p",',
            "column 27 after field 'prompt': a key is not a double-quoted string" + CUT,
        ),
    ],
)
def test_a_broken_json_line_is_explained_in_a_whole_sentence(tmp_path, proj, line, expected):
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps(row(1)) + "\n" + line)
    with pytest.raises(CommandError) as caught:
        call_command("import_instances", "cut", str(path))
    assert str(caught.value) == f"cut.jsonl, line 2: invalid JSON at {expected}"


def test_the_file_names_in_errors_are_the_users_not_the_stored_ones(tmp_path, proj):
    path = tmp_path / "0123abcd.jsonl"
    path.write_text('{"id": "1", "prompt": NaN}\n')
    with pytest.raises(DatasetImportError, match=r"^my data\.jsonl, line 1: NaN in field 'prompt'"):
        import_file(proj, path, display_name="my data.jsonl")
    assert Path(path).exists()
