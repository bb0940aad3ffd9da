"""Celery tasks on the ``tags`` queue. Idempotent: a re-delivered task tags only instances still missing values."""

from __future__ import annotations

import logging

from celery import shared_task

from annotation.models import Job
from routing.app.services import compute_project_tags

log = logging.getLogger(__name__)

TAGS_JOB = "compute_tags"


def run_tags_job(job_id: int) -> dict:
    """Body of the task (also what ``compute_tags`` runs in-process). A FAILED job may simply be run again."""
    job = Job.objects.select_related("project").get(pk=job_id)
    if job.kind != TAGS_JOB:
        raise ValueError(f"job {job_id}: kind {job.kind!r} is not {TAGS_JOB!r}")
    return job.execute(_compute_tags)


def _compute_tags(job: Job) -> dict:
    params = job.params or {}
    result = compute_project_tags(
        job.project,
        params.get("mode", "recommended"),
        chunk_size=int(params.get("chunk_size", 256)),
        device=params.get("device"),
        progress=job.report_progress,
    )
    log.info("compute_tags job %s finished: %s instances computed", job.pk, result["computed"])
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True)
def compute_tags_task(job_id: int) -> dict:
    return run_tags_job(job_id)
