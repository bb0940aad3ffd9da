"""Celery tasks on the ``judge`` queue. Each is resumable: a re-delivered or re-run task judges only what is
missing (see services.py), and a job that already finished is not redone."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from annotation.models import Job

log = logging.getLogger(__name__)

JUDGE_JOB = "judge"
TAG_JOB = "tag_prompts"
_DONE = (Job.Status.SUCCEEDED, Job.Status.CANCELLED)


def run_job(job_id: int) -> dict:
    """Run a judge or tag job in this process (the task body; also what the management commands call).

    A FAILED job may be run again: finished orders are skipped, so a retry only pays for the rest.
    """
    from annotation.judging.services import judge_project, tag_project

    job = Job.objects.select_related("project").get(pk=job_id)
    if job.status in _DONE:
        return job.result
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, error="")
    params = job.params or {}
    try:
        if job.kind == JUDGE_JOB:
            summary = judge_project(
                job.project,
                params["config"],
                batch_size=int(params.get("batch_size", 16)),
                limit=params.get("limit"),
                progress=job.report_progress,
            )
            result = summary.as_dict()
        elif job.kind == TAG_JOB:
            result = tag_project(
                job.project,
                params["config"],
                batch_size=int(params.get("batch_size", 8)),
                limit=params.get("limit"),
                progress=job.report_progress,
                dimensions=params.get("dimensions"),
            )
        else:
            raise ValueError(f"job {job_id}: kind {job.kind!r} is not a judging job")
    except Exception as error:
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        raise
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, result=result, finished_at=timezone.now()
    )
    log.info("%s job %s finished: %s", job.kind, job_id, result)
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True)
def judge_project_task(job_id: int) -> dict:
    return run_job(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def tag_prompts_task(job_id: int) -> dict:
    return run_job(job_id)
