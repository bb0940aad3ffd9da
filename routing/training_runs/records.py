"""Record-keeping of training runs: create, cancel, resume, mark crashed, and the run's log and final state.

This is what the API, the pages and ``launch`` need, and it imports no torch, transformers nor
sentence-transformers: the web process imports it on every start. The work itself (training, the PPM loop,
the experiment) is in ``execution``, which only the Celery tasks and the commands' ``--sync`` path import.

Every run has an ``annotation.Job`` (one job per attempt); the job keeps the job's status through
``Job.execute``, the run record keeps its own (it can also be crashed, resumed, cancelled mid-way).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import Job, Project
from models.reward.cancellation import TrainingCancelled
from models.reward.loss_names import LOSSES
from routing.training_runs.models import FINAL, PPMLoopRun, RewardModelRun, RoutingExperiment, Status

RUN_MODELS = (RewardModelRun, PPMLoopRun, RoutingExperiment)
LOG_LIMIT = 100_000  # characters of a run's log kept (the newest)


class TrainingError(ValueError):
    """Bad parameters or data for a run; the message names what and where."""


def gpu_worker_available() -> bool:
    """Settings HYBRIDPREF_GPU_WORKER (or the env var of that name) says a worker consumes the gpu queue."""
    value = getattr(settings, "HYBRIDPREF_GPU_WORKER", None)
    if value is None:
        value = os.environ.get("HYBRIDPREF_GPU_WORKER", "")
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


# ---------------------------------------------------------------- a run's log and state ------------------


def log_to_run(run, message: str) -> None:
    """Append a stamped line to the run's log (the newest ``LOG_LIMIT`` characters kept); also a heartbeat."""
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    run.logs = (run.logs + f"[{stamp}] {message}\n")[-LOG_LIMIT:]
    type(run).objects.filter(pk=run.pk).update(logs=run.logs, heartbeat_at=timezone.now())


def finish_run(run, status: str, error: str = "", **fields: Any) -> dict:
    """The run record's final state; returns what its job stores as its result."""
    type(run).objects.filter(pk=run.pk).update(
        status=status, error=error, finished_at=timezone.now(), logs=run.logs, **fields
    )
    return {
        "run": run.pk,
        "status": status,
        **({"metrics": fields["metrics"]} if "metrics" in fields else {}),
    }


def claim_run(model, run_id: int):
    """Claim a run for an attempt. Returns None when it is already final (a re-delivered task)."""
    with transaction.atomic():
        run = model.objects.select_for_update().get(pk=run_id)
        if run.status in FINAL:
            return None
        if run.status in (Status.RUNNING, Status.CRASHED):
            run.logs += "previous attempt did not finish (worker lost): resuming\n"
        run.status = Status.RUNNING
        run.attempts += 1
        run.started_at = run.heartbeat_at = timezone.now()
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "logs"])
    return run


def run_of_job(job: Job):
    """The training record a job executes."""
    for model in RUN_MODELS:
        run = model.objects.filter(job=job).first()
        if run is not None:
            return run
    raise TrainingError(f"job #{job.pk} ({job.kind}) has no reward-model run, PPM loop or routing experiment")


def mark_crashed(stale_after: timedelta = timedelta(minutes=30)) -> int:
    """Runs that say "running" but have not sent a heartbeat for a while lost their worker."""
    cutoff = timezone.now() - stale_after
    crashed = 0
    for model in RUN_MODELS:
        crashed += model.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=Status.CRASHED
        )
    return crashed


def request_cancel(run) -> None:
    """A pending run is cancelled at once (its job too, through the same lifecycle); a running one stops at
    its next step."""
    type(run).objects.filter(pk=run.pk).update(cancel_requested=True)
    if run.status != Status.PENDING:
        return
    run.refresh_from_db()
    finish_run(run, Status.CANCELLED, "cancelled before it started")
    if run.job_id:
        run.job.execute(_cancelled_before_start, cancellations=(TrainingCancelled,))


def _cancelled_before_start(job: Job) -> dict:
    raise TrainingCancelled("cancelled before it started")


def prepare_resume(run) -> Job:
    """Crashed, failed or cancelled -> pending again, with a fresh job for the new attempt (a complete
    artifact of an earlier attempt is reused by the body)."""
    if run.status in (Status.SUCCEEDED, Status.RUNNING):
        raise TrainingError(f"run #{run.pk} is {run.status}: nothing to resume")
    old = run.job
    job = Job.objects.create(
        kind=old.kind if old else type(run).__name__,
        project=run.project,
        created_by=run.created_by,
        params={**(old.params if old else {}), "run": run.pk, "resumed_from_job": run.job_id},
    )
    type(run).objects.filter(pk=run.pk).update(
        status=Status.PENDING, cancel_requested=False, error="", job=job
    )
    run.refresh_from_db()
    return job


# ---------------------------------------------------------------- new runs --------------------------------

DEFAULT_HYPER = {
    "lr": 2e-5,
    "batch_size": 8,
    "max_length": 256,
    "epochs": 1.0,
    "max_steps": None,
    "seed": 0,
    "test_fraction": 0.2,
    "eval_file": None,
    "eval_limit_per_subset": None,
    "lora_r": 0,
}


def create_reward_model_run(
    project: Project,
    dataset_version,
    *,
    loss: str = "bt",
    kind: str = "transformer",
    backbone: str = "",
    hyperparameters: dict | None = None,
    user=None,
) -> RewardModelRun:
    """The record and its job, validated (queue: gpu when a GPU worker exists); ``launch`` sends it."""
    if loss not in LOSSES:
        raise TrainingError(f"loss: {loss!r} is not one of {LOSSES}")
    if kind not in RewardModelRun.Kind.values:
        raise TrainingError(f"kind: {kind!r} is not one of {RewardModelRun.Kind.values}")
    if dataset_version is None or dataset_version.project_id != project.pk:
        raise TrainingError(f"dataset_version: not a dataset version of project {project.name!r}")
    unknown = set(hyperparameters or {}) - set(DEFAULT_HYPER)
    if unknown:
        raise TrainingError(f"hyperparameters: unknown keys {sorted(unknown)}")
    hyper = {**DEFAULT_HYPER, **(hyperparameters or {})}
    gpu = gpu_worker_available() and kind == "transformer"
    hyper["device"] = "cuda" if gpu else "cpu"
    job = Job.objects.create(
        kind="train_reward_model", project=project, created_by=user, params={"loss": loss}
    )
    run = RewardModelRun.objects.create(
        project=project,
        dataset_version=dataset_version,
        kind=kind,
        loss=loss,
        backbone=backbone,
        hyperparameters=hyper,
        queue="gpu" if gpu else "default",
        job=job,
        created_by=user,
    )
    Job.objects.filter(pk=job.pk).update(params={"loss": loss, "run": run.pk})
    return run


def create_ppm_loop(
    project: Project,
    lm_judge: str,
    *,
    k: int = 200,
    seed: int = 0,
    eval_file: str | None = None,
    compute_tags: bool = False,
    user=None,
) -> PPMLoopRun:
    """The loop's record and its job; ``launch`` sends it."""
    job = Job.objects.create(kind="ppm_loop", project=project, created_by=user, params={"k": k})
    params = {"k": k, "seed": seed, "eval_file": eval_file, "compute_tags": compute_tags}
    run = PPMLoopRun.objects.create(
        project=project, lm_judge=lm_judge, job=job, created_by=user, params=params
    )
    Job.objects.filter(pk=job.pk).update(params={"k": k, "run": run.pk})
    return run


def create_routing_experiment(
    project: Project, lm_judge: str, *, params: dict | None = None, user=None
) -> RoutingExperiment:
    """``params``: ExperimentConfig fields, ``eval_file``, and ``compute_tags`` (compute missing textual tags);
    ``launch`` sends it."""
    job = Job.objects.create(kind="routing_experiment", project=project, created_by=user)
    run = RoutingExperiment.objects.create(
        project=project, lm_judge=lm_judge, job=job, created_by=user, params=params or {}
    )
    Job.objects.filter(pk=job.pk).update(params={"run": run.pk})
    return run
