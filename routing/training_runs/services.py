"""Run, cancel, recover reward-model runs, PPM loops and routing experiments (``launch`` starts them).

The heavy lifting is in the pure cores (``models.reward``, ``routing.ppm_loop`` / ``experiment``);
this module turns a project in the database into their inputs and their outputs back into records.

One lifecycle: every run is executed by its ``annotation.Job`` (``Job.execute``, which keeps the job's
status), through :func:`execute_run`, which keeps the run record's own status (it can also be crashed,
resumed, cancelled mid-way). Nothing here sends a Celery task: ``routing.training_runs.launch`` does, with
``Job.enqueue`` (after the transaction commits), and ``routing.training_runs.tasks`` calls back into this module.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.datasets.models import DatasetRow
from annotation.datasets.services import default_method, excluded_annotators, iter_label_groups
from annotation.models import Instance, Job, Project
from models.aggregation import aggregate
from models.reward import data as rdata
from models.reward.embedding_cache import EmbeddingCache
from models.reward.evaluation import BenchLayout, bench_scores, correct_flags, scores_row
from models.reward.features import BenchFeatures, response_phi
from models.reward.losses import LOSSES
from models.reward.proxy import ProxyRewardModel, ProxySettings
from models.reward.transformer import (
    PairExample,
    TrainConfig,
    TrainingCancelled,
    TransformerRewardModel,
    is_complete_artifact,
)
from routing.app.services import (
    RoutingError,
    compute_project_tags,
    missing_instances,
    newest_lm_labels,
    project_tag_table,
    register_ppm,
)
from routing.config import RECOMMENDED
from routing.experiment import ExperimentConfig, format_table, plot, run_experiment, summarise
from routing.ppm_loop import BenchTarget, HeldoutTarget, pool_from_instances, run_loop
from routing.training_runs.models import (
    FINAL,
    PPMLoopRun,
    PPMTrainingRow,
    RewardModelRun,
    RoutingExperiment,
    Status,
)


class TrainingError(ValueError):
    """Bad parameters or data for a run; the message names what and where."""


def gpu_worker_available() -> bool:
    """Settings HYBRIDPREF_GPU_WORKER (or the env var of that name) says a worker consumes the gpu queue."""
    value = getattr(settings, "HYBRIDPREF_GPU_WORKER", None)
    if value is None:
        value = os.environ.get("HYBRIDPREF_GPU_WORKER", "")
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def artifact_root() -> Path:
    return Path(getattr(settings, "ARTIFACT_DIR", Path(settings.DATA_DIR) / "artifacts")) / "training"


def embedding_cache() -> EmbeddingCache:
    return EmbeddingCache(
        getattr(settings, "HYBRIDPREF_EMBEDDING_CACHE", None) or Path(settings.DATA_DIR) / "embeddings"
    )


# ---------------------------------------------------------------- project -> pure instances ---------------


def human_aggregates(project: Project, instance_ids: list[int]) -> dict[int, int | None]:
    """The human label of each instance by the project's aggregation method (``models.aggregation``, the
    rule of the dataset export; excluded annotators left out); None where dropped or unlabelled."""
    method, excluded = default_method(project), excluded_annotators(project)
    out: dict[int, int | None] = dict.fromkeys(instance_ids)
    for instance_id, labels in iter_label_groups(project, instance_ids):
        result = aggregate(method, labels, excluded)
        out[instance_id] = None if result.dropped else result.result
    return out


def project_instances(project: Project, lm_judge: str) -> list[rdata.Instance]:
    """The project's instances with their human aggregate and the named judge's label, as the pure core
    wants."""
    rows = list(Instance.objects.filter(project=project).order_by("id"))
    if not rows:
        raise TrainingError(f"project {project.name!r} has no instances")
    ids = [r.id for r in rows]
    human = human_aggregates(project, ids)
    lm = newest_lm_labels(ids, lm_judge, project)
    if not lm:
        raise TrainingError(f"lm_judge: project {project.name!r} has no label from judge {lm_judge!r}")
    return [
        rdata.Instance(
            str(r.id),
            r.prompt,
            r.response_a,
            r.response_b,
            human[r.id],
            {lm_judge: lm.get(r.id)},
            str((r.metadata or {}).get("category", "")),
        )
        for r in rows
    ]


# ---------------------------------------------------------------- lifecycle helpers -----------------------


def _log(run, message: str) -> None:
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    run.logs = (run.logs + f"[{stamp}] {message}\n")[-100_000:]
    type(run).objects.filter(pk=run.pk).update(logs=run.logs, heartbeat_at=timezone.now())


def _progress(run, done: int, total: int, message: str) -> None:
    if run.job_id:
        run.job.report_progress(done, total, message)
    type(run).objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


def _cancel_requested(run) -> bool:
    return type(run).objects.filter(pk=run.pk, cancel_requested=True).exists()


def _begin(model, run_id: int):
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


def _finish(run, status: str, error: str = "", **fields: Any) -> dict:
    """The run record's final state; returns what its job stores as its result."""
    type(run).objects.filter(pk=run.pk).update(
        status=status, error=error, finished_at=timezone.now(), logs=run.logs, **fields
    )
    return {
        "run": run.pk,
        "status": status,
        **({"metrics": fields["metrics"]} if "metrics" in fields else {}),
    }


def execute_run(model, run_id: int, body) -> dict:
    """Run ``body(run)`` with the run record's status kept: the body of the run's ``Job.execute``.

    Cancellation and failures are recorded on the run and raised again, so that the job records them too
    (cancelled, failed with the message, or failed and logged by Celery).
    """
    run = _begin(model, run_id)
    if run is None:
        final = model.objects.get(pk=run_id)
        if final.status == Status.CANCELLED:
            raise TrainingCancelled(final.error or "cancelled")
        return {"run": run_id, "status": final.status}
    try:
        fields = body(run)
    except TrainingCancelled as exc:
        _log(run, f"cancelled: {exc}")
        _finish(run, Status.CANCELLED, str(exc))
        raise
    except BaseException as exc:
        _log(run, f"failed: {type(exc).__name__}: {exc}")
        _finish(run, Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    _log(run, "succeeded")
    return _finish(run, Status.SUCCEEDED, **fields)


RUN_MODELS = (RewardModelRun, PPMLoopRun, RoutingExperiment)


def run_of_job(job: Job):
    """The training record a job executes."""
    for model in RUN_MODELS:
        run = model.objects.filter(job=job).first()
        if run is not None:
            return run
    raise TrainingError(f"job #{job.pk} ({job.kind}) has no reward-model run, PPM loop or routing experiment")


def execute_job(job: Job) -> dict:
    """What a training task does with its job: ``Job.execute`` around the run's own lifecycle."""
    run = run_of_job(job)
    body = {
        RewardModelRun: execute_reward_model_run,
        PPMLoopRun: execute_ppm_loop,
        RoutingExperiment: execute_routing_experiment,
    }[type(run)]
    return job.execute(
        lambda _job: body(run.pk), expected_errors=(TrainingError,), cancellations=(TrainingCancelled,)
    )


def mark_crashed(stale_after: timedelta = timedelta(minutes=30)) -> int:
    """Runs that say "running" but have not sent a heartbeat for a while lost their worker."""
    cutoff = timezone.now() - stale_after
    n = 0
    for model in RUN_MODELS:
        n += model.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=Status.CRASHED
        )
    return n


def request_cancel(run) -> None:
    """A pending run is cancelled at once (its job too, through the same lifecycle); a running one stops at
    its next step."""
    type(run).objects.filter(pk=run.pk).update(cancel_requested=True)
    if run.status != Status.PENDING:
        return
    run.refresh_from_db()
    _finish(run, Status.CANCELLED, "cancelled before it started")
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


# ---------------------------------------------------------------- reward-model runs -----------------------

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
    queue = "gpu" if gpu else "default"
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
        queue=queue,
        job=job,
        created_by=user,
    )
    Job.objects.filter(pk=job.pk).update(params={"loss": loss, "run": run.pk})
    return run


def _version_examples(run: RewardModelRun):
    """Training pairs from the dataset version's rows; held-out test pairs scored against the human majority."""
    rows = list(DatasetRow.objects.filter(version=run.dataset_version).order_by("instance_id"))
    if not rows:
        raise TrainingError(f"dataset_version: {run.dataset_version} has no rows")
    ids = [r.instance_id for r in rows]
    instances = Instance.objects.in_bulk(ids)
    human = human_aggregates(run.project, ids)
    h = run.hyperparameters
    rng = np.random.default_rng(h.get("seed", 0))
    scorable = [i for i, r in enumerate(rows) if human[r.instance_id] not in (None, 0)]
    n_test = int(round(len(scorable) * float(h.get("test_fraction") or 0)))
    test = set(rng.permutation(scorable)[:n_test].tolist())
    train, held = [], []
    for k, r in enumerate(rows):
        inst = instances[r.instance_id]
        if k in test:
            held.append((inst, human[r.instance_id]))
        elif r.preference != 0:
            a, b = inst.response_a, inst.response_b
            chosen, rejected = (a, b) if r.preference < 0 else (b, a)
            strength = float(r.strength or abs(r.preference) or 1.0)
            train.append((inst, chosen, rejected, strength))
    if not train:
        raise TrainingError(f"dataset_version: {run.dataset_version} has no non-tie training row")
    return train, held


def _evaluate(score_fn, held, h: dict) -> dict:
    """Held-out accuracy vs the human aggregate, and the RewardBench-style file if one is named."""
    metrics: dict[str, Any] = {}
    if held:
        ra = score_fn([i.prompt for i, _ in held], [i.response_a for i, _ in held])
        rb = score_fn([i.prompt for i, _ in held], [i.response_b for i, _ in held])
        gold = np.array([g for _, g in held])
        metrics["heldout"] = {"accuracy": float(np.mean((rb - ra) * gold > 0)), "n": len(held)}
    path = h.get("eval_file") or getattr(settings, "HYBRIDPREF_RM_EVAL_PATH", None)
    if path:
        triples = rdata.load_triples(path)
        limit = h.get("eval_limit_per_subset")
        if limit:
            seen: dict[str, int] = {}
            triples = [
                t
                for t in triples
                if (seen.__setitem__(t.subset, seen.get(t.subset, 0) + 1) or True)
                and seen[t.subset] <= int(limit)
            ]
        rc = score_fn([t.prompt for t in triples], [t.chosen for t in triples])
        rr = score_fn([t.prompt for t in triples], [t.rejected for t in triples])
        layout = BenchLayout.from_triples([t.subset for t in triples], [t.category for t in triples])
        metrics["bench"] = {
            "file": str(path),
            "n": len(triples),
            **scores_row(bench_scores(correct_flags(rc[None], rr[None]), layout)),
        }
    return metrics


def _train_transformer(run: RewardModelRun) -> dict:
    h = run.hyperparameters
    train, held = _version_examples(run)
    base = artifact_root() / f"reward-model-{run.pk}"
    previous = sorted(p for p in base.glob("attempt-*") if is_complete_artifact(p)) if base.exists() else []
    config = TrainConfig(
        backbone=str(previous[-1]) if previous else run.backbone,
        loss=run.loss,
        lr=h["lr"],
        batch_size=h["batch_size"],
        max_length=h["max_length"],
        epochs=h["epochs"],
        max_steps=h["max_steps"],
        seed=h["seed"],
        device=h.get("device", "cpu"),
        lora_r=h.get("lora_r", 0),
    )
    model = TransformerRewardModel(config)
    out: dict[str, Any] = {}
    if previous:
        _log(run, f"reusing the complete artifact of {previous[-1].name}; evaluating only")
        target = previous[-1]
    else:
        _log(run, f"training {run.loss} on {len(train)} pairs ({config.device}), {len(held)} held out")
        examples = [PairExample(i.prompt, c, r, s) for i, c, r, s in train]
        state = {"n": 0}

        def progress(step: int, total: int, loss: float) -> None:
            _progress(run, step, total, f"step {step}/{total} loss {loss:.4f}")
            state["n"] += 1

        def should_stop() -> bool:
            return state["n"] % 5 == 0 and _cancel_requested(run)

        out = model.train(examples, progress, should_stop)
        target = base / f"attempt-{run.attempts}"
        _log(
            run,
            f"trained {out['steps']} steps in {out['train_seconds']:.1f}s, final loss {out['loss_curve'][-1]:.4f}",
        )
        model.save(target, {"run": run.pk, "data_order": out["data_order"]})
    metrics = _evaluate(lambda p, r: model.score(p, r), held, h)
    metrics["training"] = {k: out[k] for k in ("steps", "train_seconds", "loss_curve") if k in out}
    return {"metrics": metrics, "artifact_path": str(target)}


def _train_proxy(run: RewardModelRun) -> dict:
    h = run.hyperparameters
    train, held = _version_examples(run)
    proxy_settings = ProxySettings(loss=run.loss if run.loss != "regression" else "bt")
    cache = embedding_cache()
    fa = response_phi(cache, proxy_settings, [i.prompt for i, *_ in train], [c for _, c, _, _ in train], None)
    fb = response_phi(cache, proxy_settings, [i.prompt for i, *_ in train], [r for _, _, r, _ in train], None)
    # chosen is "a" here, so every preference is -strength
    model = ProxyRewardModel(proxy_settings).fit(fa, fb, [-s for *_, s in train])
    target = artifact_root() / f"reward-model-{run.pk}" / f"attempt-{run.attempts}"
    target.mkdir(parents=True, exist_ok=True)
    np.save(target / "coef.npy", model.coef_)
    metrics = _evaluate(lambda p, r: response_phi(cache, proxy_settings, p, r, None) @ model.coef_, held, h)
    return {"metrics": metrics, "artifact_path": str(target)}


def execute_reward_model_run(run_id: int) -> dict:
    def body(run: RewardModelRun) -> dict:
        return _train_transformer(run) if run.kind == RewardModelRun.Kind.TRANSFORMER else _train_proxy(run)

    return execute_run(RewardModelRun, run_id, body)


# ---------------------------------------------------------------- PPM loop and experiment ----------------


def _tag_table(run):
    """The project's routing-core tag table from stored ``routing.TagValue`` rows (90 paper features:
    binned textual tags + descriptive tags from LM-tagger records, all zero where there are none).

    Missing textual tags are computed first when the run asks for it (``compute_tags``); otherwise the run
    fails with a message that says to run ``manage.py compute_tags <project>``.
    """
    project = run.project
    if run.params.get("compute_tags") and missing_instances(project, RECOMMENDED):
        _log(run, "computing missing textual tags (routing.app.services.compute_project_tags)")
        compute_project_tags(project, RECOMMENDED, progress=lambda d, t, m: _progress(run, d, t, m))
    try:
        return project_tag_table(project, RECOMMENDED, lm_judge=run.lm_judge)
    except RoutingError as exc:
        raise TrainingError(str(exc)) from exc


def _pool(run) -> tuple:
    instances = project_instances(run.project, run.lm_judge)
    table = _tag_table(run)
    pool, kept = pool_from_instances(instances, run.lm_judge, embedding_cache(), table)
    return pool, kept, table


def _bench(path: str | None):
    if not path:
        return None
    return BenchFeatures.build(rdata.load_triples(path), embedding_cache(), ProxySettings())


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


def execute_ppm_loop(run_id: int) -> dict:
    def body(run: PPMLoopRun) -> dict:
        p = run.params
        pool, kept, table = _pool(run)
        _log(
            run,
            f"pool: {len(kept)} of {len(table.instance_ids)} instances (ties under either source "
            f"dropped), {pool.tags.shape[1]} tag features from routing.TagValue",
        )
        targets: list = [HeldoutTarget.make(len(kept), 5, 0.3, p.get("seed", 0))]
        bench = _bench(p.get("eval_file") or getattr(settings, "HYBRIDPREF_RM_EVAL_PATH", None))
        if bench is not None:
            targets.append(BenchTarget(bench))

        def progress(done: int, total: int, message: str) -> None:
            _progress(run, done, total, message)
            if _cancel_requested(run):
                raise TrainingCancelled(f"stopped after {done} of {total} candidates")

        result = run_loop(pool, targets, k=p.get("k", 200), seed=p.get("seed", 0), progress=progress)
        with transaction.atomic():  # rows replaced as a whole: a rerun never duplicates them
            PPMTrainingRow.objects.filter(loop=run).delete()
            PPMTrainingRow.objects.bulk_create(
                [
                    PPMTrainingRow(
                        loop=run,
                        candidate=r["candidate"],
                        human_share=r["human_share"],
                        features=r["features"],
                        scores=r["scores"],
                    )
                    for r in result.rows()
                ]
            )
        artifacts = _register_loop_ppms(run, result, table)  # after the rows they name as training data
        for target_name, metrics in result.ppm_metrics.items():
            for m in metrics:
                _log(
                    run,
                    f"{target_name} {m['kind']}: Spearman {m['spearman']:.3f} RMSE(x100) {m['rmse_x100']:.3f} "
                    f"(paper Table 2: {m['paper_spearman']} / {m['paper_rmse_x100']})",
                )
        metrics = {
            "ppm": result.ppm_metrics,
            "timings": result.timings,
            "pool_size": len(kept),
            "feature_names": result.feature_names,
            "ppm_artifacts": {t: a.name for t, a in artifacts.items()},
        }
        _log(
            run,
            "PPM artifacts (manage.py route --ppm NAME): " + ", ".join(a.name for a in artifacts.values()),
        )
        return {"metrics": metrics, "artifact_path": next(iter(artifacts.values())).path}

    return execute_run(PPMLoopRun, run_id, body)


def loop_ppm_name(run: PPMLoopRun, target: str) -> str:
    return f"ppm-loop-{run.pk}-{target}"


def _register_loop_ppms(run: PPMLoopRun, result, table) -> dict:
    """One ``routing.PPMArtifact`` per target (saved with routing.ppm; a rerun replaces it by name)."""
    return {
        target: register_ppm(
            ppm,
            loop_ppm_name(run, target),
            project=run.project,
            source="training.PPMLoopRun",
            loop_run=run.pk,
            target=target,
            lm_judge=run.lm_judge,
            seed=run.params.get("seed", 0),
            k=run.params.get("k", 200),
            tag_versions=table.tag_versions,
            training_data=f"training.PPMTrainingRow loop={run.pk}",
            pool_size=int(result.masks.shape[1]),
        )
        for target, ppm in result.ppms.items()
    }


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


def execute_routing_experiment(run_id: int) -> dict:
    def body(run: RoutingExperiment) -> dict:
        p = dict(run.params)
        p.pop("compute_tags", None)
        pool, kept, _ = _pool(run)
        bench = _bench(p.pop("eval_file", None) or getattr(settings, "HYBRIDPREF_RM_EVAL_PATH", None))
        allowed = {
            "budgets",
            "strategies",
            "seeds",
            "k",
            "test_fraction",
            "inner_splits",
            "ppm_kind",
            "simulated_k",
            "random_repeats",
            "paper_router",
            "oracle",
        }
        if set(p) - allowed:
            raise TrainingError(f"params: unknown keys {sorted(set(p) - allowed)}")
        config = ExperimentConfig(**p)

        def progress(done: int, total: int, message: str) -> None:
            _progress(run, done, total, message)

        rows = run_experiment(pool, bench, config, progress)
        summary = summarise(rows)
        target = artifact_root() / f"routing-experiment-{run.pk}"
        target.mkdir(parents=True, exist_ok=True)
        plot(summary, str(target / "routing_experiment.png"))
        plot(summary, str(target / "routing_experiment.svg"))
        _log(run, "\n" + format_table(summary))
        return {
            "rows": rows,
            "summary": summary,
            "plot_path": str(target / "routing_experiment.png"),
            "metrics": {"pool_size": len(kept)},
        }

    return execute_run(RoutingExperiment, run_id, body)
