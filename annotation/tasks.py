"""Celery tasks of the annotation app. Each is idempotent: a re-delivered task finds its job done and stops."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.core.cache import cache

import platform
from annotation.importing import DatasetImportError
from annotation.importing.writer import import_file
from annotation.models import Job

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def import_instances_task(job_id: int) -> dict:
    """Run an uploaded import under the one job lifecycle (``Job.execute``): the job ends succeeded or
    failed whatever the import raises, and the uploaded file is deleted either way, so a refused upload
    does not stay on disk. The import itself is all-or-nothing; a re-delivered task finds its job done."""
    return Job.objects.get(pk=job_id).execute(_import_upload, expected_errors=(DatasetImportError,))


def _import_upload(job: Job) -> dict:
    params = job.params
    path = Path(params["path"])
    if not path.is_file():
        raise DatasetImportError(
            "the uploaded file is no longer there (an upload is deleted once its import ends); upload it again",
            file=params.get("original_name", ""),
        )

    def progress(records: int, position) -> None:
        job.report_progress(position.bytes_read, position.total_bytes, f"{records} records read")

    try:
        report = import_file(
            job.project,
            path,
            fmt=params.get("format") or None,
            on_existing=params.get("on_existing", "refuse"),
            on_repeated_annotator=params.get("on_repeated_annotator", "refuse"),
            progress=progress,
            display_name=params.get("original_name"),
        )
    except (KeyboardInterrupt, SystemExit):
        raise  # the worker is stopping: the task is delivered again and needs its file
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)
    log.info("import job %s: %s", job.pk, report.summary())
    return report.as_dict()


@shared_task
def report_platform(cache_key: str) -> dict:
    """Diagnostics: which Python and OS the worker runs on (also proves the stdlib ``platform`` works in a
    worker process). The answer goes to the cache, which the web process shares; no result backend needed."""
    info = {"system": platform.system(), "python": platform.python_version(), "machine": platform.machine()}
    cache.set(cache_key, info, timeout=600)
    return info
