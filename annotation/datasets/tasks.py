"""Celery tasks of the datasets app (queue ``default``). Idempotent: a finished job is not redone, and a
re-delivered export starts over in a fresh ``.partial`` folder, ending with the same files."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from annotation.models import Job

log = logging.getLogger(__name__)

EXPORT_JOB = "export_dataset"
_DONE = ("succeeded", "failed", "cancelled")


def export_dir(job: Job) -> Path:
    return Path(settings.EXPORT_DIR) / str(job.project_id) / f"export-{job.pk}"


def run_export_job(job_id: int) -> dict:
    """Run an export job in this process (the task body; also used by ``manage.py export_dataset``)."""
    from annotation.datasets.exporting import ExportError, export_version
    from annotation.datasets.models import DatasetVersion

    job = Job.objects.get(pk=job_id)
    if job.status in _DONE:
        return job.result
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING)
    params = job.params
    try:
        version = DatasetVersion.objects.get(pk=params["version"])
        result = export_version(
            version,
            export_dir(job),
            formats=params.get("formats") or ["jsonl", "parquet", "csv", "hf"],
            forms=params.get("forms") or ["pairwise", "full"],
            progress=job.report_progress,
        )
    except (ExportError, DatasetVersion.DoesNotExist) as error:
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED, error=str(error), finished_at=timezone.now()
        )
        return {"error": str(error)}
    except Exception as error:
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        raise
    result["download_url"] = f"/api/projects/{job.project.name}/exports/{job.pk}/download/"
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, result=result, finished_at=timezone.now()
    )
    log.info("export job %s: %s", job_id, result["rows"])
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_dataset_task(job_id: int) -> dict:
    return run_export_job(job_id)
