"""Imports under caps (issue 10.6): every cap refused with a sentence naming it and its setting, nothing
materialised past a cap, refused uploads not left on disk, every import job ending done or failed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.conf import settings as django_settings

from annotation.importing import DatasetImportError
from annotation.importing.limits import ImportLimits
from annotation.importing.writer import import_file
from annotation.models import Instance, Job, Project
from annotation.tasks import import_instances_task

pytestmark = pytest.mark.django_db

SMALL = ImportLimits(max_record_bytes=4096, max_field_bytes=1024, max_depth=8, max_rows=5)


def row(i: int, **extra) -> dict:
    return {"id": f"r{i}", "prompt": f"prompt {i}", "response_a": f"a {i}", "response_b": f"b {i}", **extra}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def refused(project: Project, path: Path, limits: ImportLimits = SMALL) -> str:
    with pytest.raises(DatasetImportError) as caught:
        import_file(project, path, limits=limits)
    assert Instance.objects.count() == 0
    return str(caught.value)


@pytest.fixture
def proj(db) -> Project:
    return Project.objects.create(name="caps")


def test_a_line_over_the_record_cap_is_refused_unread(tmp_path, proj):
    path = write_jsonl(tmp_path / "long.jsonl", [row(1), row(2, response_a="x" * 10_000)])
    message = refused(proj, path)
    assert "long.jsonl, line 2" in message
    assert "record size limit of 4,096 bytes (setting HYBRIDPREF_IMPORT_MAX_RECORD_BYTES)" in message


def test_a_field_over_the_field_cap_is_refused_naming_the_field(tmp_path, proj):
    path = write_jsonl(tmp_path / "field.jsonl", [row(1, response_b="é" * 600)])  # 600 chars, 1,200 bytes
    message = refused(proj, path)
    assert "line 1, field 'response_b'" in message and "HYBRIDPREF_IMPORT_MAX_FIELD_BYTES" in message


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_50k_deep_json_is_a_clean_error(tmp_path, proj, fmt):
    deep = '{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b", "extra": ' + "[" * 50_000
    deep += "]" * 50_000 + "}"
    path = tmp_path / f"deep.{fmt}"
    path.write_text(deep + "\n" if fmt == "jsonl" else f"[{deep}]")
    message = refused(proj, path, ImportLimits())
    assert f"deep.{fmt}" in message and "nests objects and arrays" in message


def test_depth_cap_names_its_setting(tmp_path, proj):
    path = write_jsonl(tmp_path / "nested.jsonl", [row(1, extra=[[[[[[[[["x"]]]]]]]]])])
    assert "nesting depth limit of 8 (setting HYBRIDPREF_IMPORT_MAX_DEPTH)" in refused(proj, path)


def test_row_cap(tmp_path, proj):
    path = write_jsonl(tmp_path / "rows.jsonl", [row(i) for i in range(6)])
    message = refused(proj, path)
    assert "line 6" in message and "record count limit of 5 (setting HYBRIDPREF_IMPORT_MAX_ROWS)" in message


def test_total_size_cap(tmp_path, proj):
    path = write_jsonl(tmp_path / "total.jsonl", [row(i) for i in range(3)])
    message = refused(proj, path, ImportLimits(max_total_bytes=100))
    assert "import size limit of 100 bytes (setting HYBRIDPREF_IMPORT_MAX_TOTAL_BYTES)" in message


def test_limits_come_from_settings(tmp_path, proj, settings):
    settings.IMPORT_LIMITS = {**django_settings.IMPORT_LIMITS, "max_rows": 2}
    path = write_jsonl(tmp_path / "three.jsonl", [row(i) for i in range(3)])
    with pytest.raises(DatasetImportError, match="record count limit of 2"):
        import_file(proj, path)


def test_a_tiny_parquet_that_expands_to_a_huge_field_is_refused_from_its_metadata(tmp_path, proj):
    """A few KB on disk, 30 MB decompressed in one value: refused before any data page is read."""
    path = tmp_path / "bomb.parquet"
    table = pa.Table.from_pylist([row(1, response_a="a" * 30_000_000)])
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    del table
    assert path.stat().st_size < 20_000
    allocated = pa.total_allocated_bytes()
    message = refused(proj, path, ImportLimits(max_field_bytes=1024 * 1024))
    assert "column 'response_a' decompresses to" in message and "nothing was read" in message
    assert "HYBRIDPREF_IMPORT_MAX_FIELD_BYTES" in message
    assert pa.total_allocated_bytes() - allocated < 1_000_000


def test_a_large_parquet_value_hidden_among_small_ones_is_refused_before_python_sees_it(tmp_path, proj):
    rows = [row(i) for i in range(2000)]
    rows[1500]["response_b"] = "b" * 200_000
    path = tmp_path / "hidden.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    message = refused(proj, path, ImportLimits(max_field_bytes=100_000))
    assert "a value of column 'response_b' holds 200,000 bytes" in message and "rows 1281-1536" in message


def test_parquet_memory_cap(tmp_path, proj):
    path = tmp_path / "ok.parquet"
    pq.write_table(pa.Table.from_pylist([row(i) for i in range(10)]), path)
    message = refused(proj, path, ImportLimits(max_arrow_bytes=1))
    assert "Parquet memory limit of 1 bytes (setting HYBRIDPREF_IMPORT_MAX_ARROW_BYTES)" in message


# -- uploads and jobs -------------------------------------------------------------------------------------


def upload(client, name: str, content: bytes, **fields):
    data = io.BytesIO(content)
    data.name = name
    return client.post("/api/projects/proj/imports/", {"file": data, **fields}, format="multipart")


def uploads_on_disk() -> list[Path]:
    folder = Path(django_settings.UPLOAD_DIR)
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_an_upload_over_the_cap_is_refused_and_nothing_stays_on_disk(
    api_client, researcher, project, settings
):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    api_client.force_authenticate(researcher)
    before = uploads_on_disk()
    response = upload(api_client, "big.jsonl", b"x" * 200_000)
    assert response.status_code == 413
    assert (
        "upload size limit of 1,000 bytes (setting HYBRIDPREF_IMPORT_MAX_UPLOAD_BYTES)"
        in response.json()["detail"]
    )
    # A body under the declared-length check (which leaves room for the form) is stopped by the upload
    # handler while it streams in, at the cap itself.
    streamed = upload(api_client, "medium.jsonl", b"x" * 5000)
    assert streamed.status_code == 400 and "upload size limit of 1,000 bytes" in streamed.json()["detail"]
    assert uploads_on_disk() == before and not Job.objects.exists()


def test_a_failed_import_job_deletes_its_upload_and_ends_failed(api_client, researcher, project):
    api_client.force_authenticate(researcher)
    response = upload(api_client, "bad.jsonl", b'{"id": "1", "prompt": "p", "response_a": "a"}\n')
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert Path(job.params["path"]).is_file()
    import_instances_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "field 'response_b': missing" in job.error
    assert job.finished_at is not None
    assert not Path(job.params["path"]).exists()


def test_a_deep_json_upload_ends_the_job_failed_with_a_sentence(api_client, researcher, project):
    api_client.force_authenticate(researcher)
    deep = b'{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b", "x": ' + b"[" * 50_000
    response = upload(api_client, "deep.jsonl", deep + b"]" * 50_000 + b"}\n")
    job_id = response.json()["id"]
    import_instances_task(job_id)
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.FAILED and "deep.jsonl, line 1" in job.error
    assert not Path(job.params["path"]).exists()


def test_a_successful_import_job_records_its_report_and_deletes_the_upload(api_client, researcher, project):
    api_client.force_authenticate(researcher)
    response = upload(api_client, "good.jsonl", json.dumps(row(1)).encode() + b"\n")
    job = Job.objects.get(pk=response.json()["id"])
    result = import_instances_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result == result and result["created"] == 1
    assert not Path(job.params["path"]).exists()
    # A re-delivered task finds the job done and changes nothing.
    assert import_instances_task(job.pk) == result and Instance.objects.count() == 1


@pytest.mark.parametrize(
    "failure",
    [RecursionError("maximum recursion depth exceeded"), MemoryError(), GeneratorExit(), ValueError("odd")],
    ids=["RecursionError", "MemoryError", "GeneratorExit", "ValueError"],
)
def test_job_execute_ends_failed_whatever_the_body_raises(failure):
    job = Job.objects.create(kind="test")

    def body(_job):
        raise failure

    with pytest.raises(type(failure)):
        job.execute(body)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.finished_at is not None
    assert job.error.startswith(type(failure).__name__)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_stopping_worker_leaves_the_job_to_be_delivered_again(stop):
    job = Job.objects.create(kind="test")

    def body(_job):
        raise stop

    with pytest.raises(stop):
        job.execute(body)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING  # acks_late: the broker delivers the task again
