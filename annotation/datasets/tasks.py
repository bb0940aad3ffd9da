"""Celery tasks of the datasets app (queue ``default``). Idempotent: a finished job is not redone, a
re-delivered export starts over in a fresh ``.partial`` folder, ending with the same files, and a re-delivered
build finds the version it already committed."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

from annotation.datasets.exporting import ExportError, export_version
from annotation.datasets.models import DatasetVersion
from annotation.datasets.services import DatasetBuildError, build_dataset_version
from annotation.models import Job

log = logging.getLogger(__name__)

EXPORT_JOB = "export_dataset"
BUILD_JOB = "build_dataset"


def export_dir(job: Job) -> Path:
    return Path(settings.EXPORT_DIR) / str(job.project_id) / f"export-{job.pk}"


def run_export_job(job_id: int) -> dict:
    """Run an export job in this process (the task body; also used by ``manage.py export_dataset``)."""
    job = Job.objects.select_related("project").get(pk=job_id)
    return job.execute(_export, expected_errors=(ExportError, DatasetBuildError))


def _export(job: Job) -> dict:
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


def run_build_job(job_id: int) -> dict:
    """Assemble a dataset version (the task body). Large projects take minutes, hence a job, not a request."""
    job = Job.objects.select_related("project", "created_by").get(pk=job_id)
    return job.execute(_build, expected_errors=(DatasetBuildError,))


def _build(job: Job) -> dict:
    options = dict(job.params)
    name = options.pop("name")
    version = DatasetVersion.objects.filter(project=job.project, name=name).first()
    if version is None or version.params.get("job") != job.pk:
        # (A version made by this very job means a crash after its commit: the work is done.)
        version = build_dataset_version(
            job.project, name, user=job.created_by, progress=job.report_progress, job=job.pk, **options
        )
    log.info("build job %s: version %s, %s", job.pk, version.name, version.counts)
    return {"version": version.pk, "name": version.name, "counts": version.counts}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def build_dataset_task(job_id: int) -> dict:
    return run_build_job(job_id)
