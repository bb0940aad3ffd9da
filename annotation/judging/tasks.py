"""Celery tasks on the ``judge`` queue. Each is resumable: a re-delivered or re-run task judges only what is
missing (see services.py), and a job that already finished is not redone."""

from __future__ import annotations

import logging

from celery import shared_task

from annotation.judging.endpoints import job_config
from annotation.judging.services import judge_project, tag_project
from annotation.models import Job

log = logging.getLogger(__name__)

JUDGE_JOB = "judge"
TAG_JOB = "tag_prompts"


def run_job(job_id: int) -> dict:
    """Run a judge or tag job in this process (the task body; also what the management commands call).

    A FAILED job may be run again: finished orders are skipped, so a retry only pays for the rest.
    """
    job = Job.objects.select_related("project").get(pk=job_id)
    bodies = {JUDGE_JOB: _judge, TAG_JOB: _tag}
    if job.kind not in bodies:
        raise ValueError(f"job {job_id}: kind {job.kind!r} is not a judging job")
    return job.execute(bodies[job.kind])


def _judge(job: Job) -> dict:
    params = job.params or {}
    summary = judge_project(
        job.project,
        job_config(params),
        batch_size=int(params.get("batch_size", 16)),
        limit=params.get("limit"),
        progress=job.report_progress,
    )
    log.info("judge job %s finished: %s", job.pk, summary.as_dict())
    return summary.as_dict()


def _tag(job: Job) -> dict:
    params = job.params or {}
    result = tag_project(
        job.project,
        job_config(params),
        batch_size=int(params.get("batch_size", 8)),
        limit=params.get("limit"),
        progress=job.report_progress,
        dimensions=params.get("dimensions"),
    )
    log.info("tag job %s finished: %s", job.pk, result)
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True)
def judge_project_task(job_id: int) -> dict:
    return run_job(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def tag_prompts_task(job_id: int) -> dict:
    return run_job(job_id)
