"""Start and resume training runs: create the record (``services``), then run its job in this process
(``sync``) or send its Celery task with ``Job.enqueue``, which waits for the transaction to commit so that
the worker always finds the rows. The only module that knows both the services and the tasks."""

from __future__ import annotations

from typing import Any

from routing.training_runs import services, tasks
from routing.training_runs.models import PPMLoopRun, RewardModelRun, RoutingExperiment

TASKS = {
    RewardModelRun: tasks.train_reward_model_task,
    PPMLoopRun: tasks.ppm_loop_task,
    RoutingExperiment: tasks.routing_experiment_task,
}


def dispatch(run, sync: bool = False) -> None:
    """Run the run's job now (``sync``) or queue its task on the run's queue once the transaction commits."""
    if sync:
        services.execute_job(run.job)
    else:
        run.job.enqueue(TASKS[type(run)], queue=run.queue)


def start_reward_model_run(project, dataset_version, *, sync: bool = False, **options: Any) -> RewardModelRun:
    """``services.create_reward_model_run`` options; queued on the gpu queue when a GPU worker exists."""
    run = services.create_reward_model_run(project, dataset_version, **options)
    dispatch(run, sync)
    run.refresh_from_db()
    return run


def start_ppm_loop(project, lm_judge: str, *, sync: bool = False, **options: Any) -> PPMLoopRun:
    run = services.create_ppm_loop(project, lm_judge, **options)
    dispatch(run, sync)
    run.refresh_from_db()
    return run


def start_routing_experiment(
    project, lm_judge: str, *, sync: bool = False, **options: Any
) -> RoutingExperiment:
    run = services.create_routing_experiment(project, lm_judge, **options)
    dispatch(run, sync)
    run.refresh_from_db()
    return run


def resume(run, sync: bool = False) -> None:
    """Crashed, failed or cancelled -> a fresh job for the next attempt, run or queued."""
    services.prepare_resume(run)
    run.refresh_from_db()
    dispatch(run, sync)
