"""Progress bars of the long commands: a job run in the command's process moves the open bar."""

from __future__ import annotations

import io

import pytest

from annotation.models import Job
from annotation.progress import progress_bar, report


@pytest.mark.django_db
def test_job_progress_moves_the_open_bar():
    job = Job.objects.create(kind="test")
    stream = io.StringIO()
    with progress_bar("tags", unit="instance", stream=stream, force=True):
        job.report_progress(5, 10, "half way")
    drawn = stream.getvalue()
    assert "tags" in drawn and "5/10" in drawn and "half way" in drawn
    assert job.progress["done"] == 5  # the dashboard's copy is written as before


def test_verbosity_zero_draws_nothing_and_no_bar_is_a_no_op():
    stream = io.StringIO()
    with progress_bar("export", stream=stream, verbosity=0) as bar:
        bar(3, 4, "rows")
    assert stream.getvalue() == ""
    report(1, 2, "no bar open")  # a Celery worker reports with no bar: nothing happens, nothing fails
