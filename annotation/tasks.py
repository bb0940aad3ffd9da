"""Celery tasks of the annotation app. Each is idempotent: a re-delivered task finds its job done and stops."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.utils import timezone

from annotation.importing import DatasetImportError
from annotation.importing.writer import ImportReport, import_file
from annotation.models import Job

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def import_instances_task(job_id: int) -> dict:
    """Run an uploaded import. The import and the job's success commit in one transaction, so a crash
    at any point leaves either nothing or everything, and a re-run after a crash starts clean."""
    job = Job.objects.get(pk=job_id)
    if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED):
        return job.result
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING)
    params = job.params

    def progress(records: int, position) -> None:
        job.report_progress(position.bytes_read, position.total_bytes, f"{records} records read")

    def mark_succeeded(report: ImportReport) -> None:
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.SUCCEEDED, result=report.as_dict(), finished_at=timezone.now()
        )

    try:
        report = import_file(
            job.project,
            Path(params["path"]),
            fmt=params.get("format") or None,
            on_existing=params.get("on_existing", "refuse"),
            progress=progress,
            display_name=params.get("original_name"),
            on_success=mark_succeeded,
        )
    except DatasetImportError as error:
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED, error=str(error), finished_at=timezone.now()
        )
        return {"error": str(error)}
    Path(params["path"]).unlink(missing_ok=True)
    log.info("import job %s: %s", job_id, report.summary())
    return report.as_dict()


@shared_task
def report_platform(cache_key: str) -> dict:
    """Diagnostics: which Python and OS the worker runs on (also proves the stdlib ``platform`` works in a
    worker process). The answer goes to the cache, which the web process shares; no result backend needed."""
    from django.core.cache import cache

    import platform

    info = {"system": platform.system(), "python": platform.python_version(), "machine": platform.machine()}
    cache.set(cache_key, info, timeout=600)
    return info
