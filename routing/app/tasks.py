"""Celery tasks on the ``tags`` queue. Idempotent: a re-delivered task tags only instances still missing values."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from annotation.models import Job

log = logging.getLogger(__name__)

TAGS_JOB = "compute_tags"
_DONE = (Job.Status.SUCCEEDED, Job.Status.CANCELLED)


def run_tags_job(job_id: int) -> dict:
    """Body of the task (also what ``compute_tags`` runs in-process). A FAILED job may simply be run again."""
    from routing.app.services import compute_project_tags

    job = Job.objects.select_related("project").get(pk=job_id)
    if job.kind != TAGS_JOB:
        raise ValueError(f"job {job_id}: kind {job.kind!r} is not {TAGS_JOB!r}")
    if job.status in _DONE:
        return job.result
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, error="")
    params = job.params or {}
    try:
        result = compute_project_tags(
            job.project,
            params.get("mode", "recommended"),
            chunk_size=int(params.get("chunk_size", 256)),
            device=params.get("device"),
            progress=job.report_progress,
        )
    except Exception as error:
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        raise
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, result=result, finished_at=timezone.now()
    )
    log.info("compute_tags job %s finished: %s instances computed", job_id, result["computed"])
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True)
def compute_tags_task(job_id: int) -> dict:
    return run_tags_job(job_id)
