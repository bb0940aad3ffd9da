"""Celery tasks of the datasets app (queue ``default``). Idempotent: a finished job is not redone, and a
re-delivered export starts over in a fresh ``.partial`` folder, ending with the same files."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

from annotation.datasets.services import DatasetBuildError
from annotation.models import Job

log = logging.getLogger(__name__)

EXPORT_JOB = "export_dataset"


def export_dir(job: Job) -> Path:
    return Path(settings.EXPORT_DIR) / str(job.project_id) / f"export-{job.pk}"


def run_export_job(job_id: int) -> dict:
    """Run an export job in this process (the task body; also used by ``manage.py export_dataset``)."""
    from annotation.datasets.exporting import ExportError

    job = Job.objects.select_related("project").get(pk=job_id)
    return job.execute(_export, expected_errors=(ExportError, DatasetBuildError))


def _export(job: Job) -> dict:
    from annotation.datasets.exporting import export_version
    from annotation.datasets.models import DatasetVersion

    params = job.params
    version = DatasetVersion.objects.filter(pk=params["version"]).first()
    if version is None:
        raise DatasetBuildError(f"version: no dataset version with id {params['version']}")
    result = export_version(
        version,
        export_dir(job),
        formats=params.get("formats") or ["jsonl", "parquet", "csv", "hf"],
        forms=params.get("forms") or ["pairwise", "full"],
        progress=job.report_progress,
    )
    result["download_url"] = f"/api/projects/{job.project.name}/exports/{job.pk}/download/"
    log.info("export job %s: %s", job.pk, result["rows"])
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_dataset_task(job_id: int) -> dict:
    return run_export_job(job_id)
