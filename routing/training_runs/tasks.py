"""Celery tasks: each executes one training job (``services.execute_job``: ``Job.execute`` around the run's
own lifecycle). Idempotent: a finished job is left alone, a crashed run resumes. Sent by ``launch``."""

from __future__ import annotations

from celery import shared_task

from annotation.models import Job
from routing.training_runs import services


def _execute(job_id: int) -> dict:
    return services.execute_job(Job.objects.get(pk=job_id))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def train_reward_model_task(job_id: int) -> dict:
    return _execute(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ppm_loop_task(job_id: int) -> dict:
    return _execute(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def routing_experiment_task(job_id: int) -> dict:
    return _execute(job_id)
