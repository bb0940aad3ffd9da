"""Celery tasks: thin wrappers over services; idempotent (a final run is left alone, a crashed one resumes)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def train_reward_model_task(run_id: int) -> None:
    from routing.training.services import execute_reward_model_run

    execute_reward_model_run(run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ppm_loop_task(run_id: int) -> None:
    from routing.training.services import execute_ppm_loop

    execute_ppm_loop(run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def routing_experiment_task(run_id: int) -> None:
    from routing.training.services import execute_routing_experiment

    execute_routing_experiment(run_id)
