"""Start and resume training runs: create the record (``records``), then send its Celery task with
``Job.enqueue``, which waits for the transaction to commit so that the worker always finds the rows.

The task is sent by its registered name (``TASK_NAMES``) through the current Celery app, so this module, the
API and the pages that use it never import the tasks module, whose execution imports torch: a web process
stays light. A command that runs a job in its own process (``--sync``) passes ``execute_here`` (``execution
.execute_job``) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import current_app

from annotation.models import Job
from routing.training_runs import records
from routing.training_runs.models import PPMLoopRun, RewardModelRun, RoutingExperiment

TASK_NAMES = {
    RewardModelRun: "training.train_reward_model",
    PPMLoopRun: "training.ppm_loop",
    RoutingExperiment: "training.routing_experiment",
}

ExecuteHere = Callable[[Job], Any]


def dispatch(run, execute_here: ExecuteHere | None = None) -> None:
    """Run the run's job in this process (``execute_here``) or queue its task on the run's queue once the
    transaction commits."""
    if execute_here is not None:
        execute_here(run.job)
    else:
        run.job.enqueue(current_app.signature(TASK_NAMES[type(run)]), queue=run.queue)


def start_reward_model_run(
    project, dataset_version, *, execute_here: ExecuteHere | None = None, **options: Any
) -> RewardModelRun:
    """``records.create_reward_model_run`` options; queued on the gpu queue when a GPU worker exists."""
    run = records.create_reward_model_run(project, dataset_version, **options)
    dispatch(run, execute_here)
    run.refresh_from_db()
    return run


def start_ppm_loop(
    project, lm_judge: str, *, execute_here: ExecuteHere | None = None, **options: Any
) -> PPMLoopRun:
    run = records.create_ppm_loop(project, lm_judge, **options)
    dispatch(run, execute_here)
    run.refresh_from_db()
    return run


def start_routing_experiment(
    project, lm_judge: str, *, execute_here: ExecuteHere | None = None, **options: Any
) -> RoutingExperiment:
    run = records.create_routing_experiment(project, lm_judge, **options)
    dispatch(run, execute_here)
    run.refresh_from_db()
    return run


def resume(run, execute_here: ExecuteHere | None = None) -> None:
    """Crashed, failed or cancelled -> a fresh job for the next attempt, run here or queued."""
    records.prepare_resume(run)
    run.refresh_from_db()
    dispatch(run, execute_here)
