"""Celery tasks: each executes one training job (``execution.execute_job``: ``Job.execute`` around the run's
own lifecycle). Idempotent: a finished job is left alone, a crashed run resumes.

Only workers import this module (Celery's autodiscovery when a worker starts): it imports ``execution`` and
so torch. ``launch`` sends these tasks by the names in ``TASK_NAMES`` and never imports this module, so the
web process stays free of torch.
"""

from __future__ import annotations

from celery import shared_task

from annotation.models import Job
from routing.training_runs.execution import execute_job
from routing.training_runs.launch import TASK_NAMES
from routing.training_runs.models import PPMLoopRun, RewardModelRun, RoutingExperiment


def _execute(job_id: int) -> dict:
    return execute_job(Job.objects.get(pk=job_id))


@shared_task(name=TASK_NAMES[RewardModelRun], acks_late=True, reject_on_worker_lost=True)
def train_reward_model_task(job_id: int) -> dict:
    return _execute(job_id)


@shared_task(name=TASK_NAMES[PPMLoopRun], acks_late=True, reject_on_worker_lost=True)
def ppm_loop_task(job_id: int) -> dict:
    return _execute(job_id)


@shared_task(name=TASK_NAMES[RoutingExperiment], acks_late=True, reject_on_worker_lost=True)
def routing_experiment_task(job_id: int) -> dict:
    return _execute(job_id)
