"""Execution of training runs: train a reward model, run the PPM loop, run the routing experiment.

Only the Celery tasks (``tasks``) and the management commands' ``--sync`` path import this module: it loads
torch and the embedding models, which the web process must not (``records`` holds what the web needs).

The heavy lifting is in the pure cores (``models.reward``, ``routing.ppm_loop``, ``routing.experiment``); this
module turns a project in the database into their inputs and their outputs back into records.

One lifecycle: every run is executed by its ``annotation.Job`` (``Job.execute``, which keeps the job's
status), through :func:`execute_run`, which keeps the run record's own status (it can also be crashed,
resumed, cancelled mid-way). Nothing here sends a Celery task: ``launch`` does, with ``Job.enqueue`` (after
the transaction commits).
"""

from __future__ import annotations

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
from models.reward.cancellation import TrainingCancelled
from models.reward.data import LabelledPair, Triple, load_triples
from models.reward.embedding_cache import EmbeddingCache
from models.reward.evaluation import BenchLayout, bench_scores, correct_flags, scores_row
from models.reward.features import BenchFeatures, response_phi
from models.reward.proxy import ProxyRewardModel, ProxySettings
from models.reward.transformer import PairExample, TrainConfig, TransformerRewardModel, is_complete_artifact
from routing.app.services import (
    RoutingError,
    compute_project_tags,
    missing_instances,
    newest_lm_labels,
    project_tag_table,
    register_ppm,
)
from routing.binning import TagTable
from routing.config import RECOMMENDED
from routing.experiment import ExperimentConfig, format_table, plot, run_experiment, summarise
from routing.ppm_loop import (
    BenchTarget,
    HeldoutTarget,
    LoopResult,
    RoutingPool,
    pool_from_instances,
    run_loop,
)
from routing.training_runs.models import PPMLoopRun, PPMTrainingRow, RewardModelRun, RoutingExperiment, Status
from routing.training_runs.records import TrainingError, claim_run, finish_run, log_to_run, run_of_job

CANCEL_CHECK_EVERY = 5  # training steps between two looks at the run's cancel flag (one query each)


def artifact_root() -> Path:
    return Path(getattr(settings, "ARTIFACT_DIR", Path(settings.DATA_DIR) / "artifacts")) / "training"


def embedding_cache() -> EmbeddingCache:
    return EmbeddingCache(
        getattr(settings, "HYBRIDPREF_EMBEDDING_CACHE", None) or Path(settings.DATA_DIR) / "embeddings"
    )


def _eval_file(named: str | None) -> str | None:
    """The run's evaluation file, else the deployment's (settings HYBRIDPREF_RM_EVAL_PATH), else none."""
    return named or getattr(settings, "HYBRIDPREF_RM_EVAL_PATH", None)


# ---------------------------------------------------------------- the lifecycle ---------------------------


def _progress(run, done: int, total: int, message: str) -> None:
    if run.job_id:
        run.job.report_progress(done, total, message)
    type(run).objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


def _cancel_requested(run) -> bool:
    return type(run).objects.filter(pk=run.pk, cancel_requested=True).exists()


def execute_run(model, run_id: int, body) -> dict:
    """Run ``body(run)`` with the run record's status kept: the body of the run's ``Job.execute``.

    Cancellation and failures are recorded on the run and raised again, so that the job records them too
    (cancelled, failed with the message, or failed and logged by Celery).
    """
    run = claim_run(model, run_id)
    if run is None:
        final = model.objects.get(pk=run_id)
        if final.status == Status.CANCELLED:
            raise TrainingCancelled(final.error or "cancelled")
        return {"run": run_id, "status": final.status}
    try:
        fields = body(run)
    except TrainingCancelled as exc:
        log_to_run(run, f"cancelled: {exc}")
        finish_run(run, Status.CANCELLED, str(exc))
        raise
    except BaseException as exc:
        log_to_run(run, f"failed: {type(exc).__name__}: {exc}")
        finish_run(run, Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    log_to_run(run, "succeeded")
    return finish_run(run, Status.SUCCEEDED, **fields)


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


# ---------------------------------------------------------------- project -> labelled pairs --------------


def human_aggregates(project: Project, instance_ids: list[int]) -> dict[int, int | None]:
    """The human label of each instance by the project's aggregation method (``models.aggregation``, the
    rule of the dataset export; excluded annotators left out); None where dropped or unlabelled."""
    method, excluded = default_method(project), excluded_annotators(project)
    human: dict[int, int | None] = dict.fromkeys(instance_ids)
    for instance_id, labels in iter_label_groups(project, instance_ids):
        result = aggregate(method, labels, excluded)
        human[instance_id] = None if result.dropped else result.result
    return human


def project_pairs(project: Project, lm_judge: str) -> list[LabelledPair]:
    """The project's instances with their human aggregate and the named judge's label, as the pure core
    wants."""
    instances = list(Instance.objects.filter(project=project).order_by("id"))
    if not instances:
        raise TrainingError(f"project {project.name!r} has no instances")
    ids = [instance.id for instance in instances]
    human = human_aggregates(project, ids)
    lm = newest_lm_labels(ids, lm_judge, project)
    if not lm:
        raise TrainingError(f"lm_judge: project {project.name!r} has no label from judge {lm_judge!r}")
    return [
        LabelledPair(
            str(instance.id),
            instance.prompt,
            instance.response_a,
            instance.response_b,
            human[instance.id],
            {lm_judge: lm.get(instance.id)},
            str((instance.metadata or {}).get("category", "")),
        )
        for instance in instances
    ]


# ---------------------------------------------------------------- reward-model runs -----------------------


def _version_examples(run: RewardModelRun):
    """Training pairs from the dataset version's rows; held-out test pairs scored against the human majority."""
    rows = list(DatasetRow.objects.filter(version=run.dataset_version).order_by("instance_id"))
    if not rows:
        raise TrainingError(f"dataset_version: {run.dataset_version} has no rows")
    ids = [row.instance_id for row in rows]
    instances = Instance.objects.in_bulk(ids)
    human = human_aggregates(run.project, ids)
    held_out = _held_out_rows(rows, human, run.hyperparameters)
    train, held = [], []
    for position, row in enumerate(rows):
        instance = instances[row.instance_id]
        if position in held_out:
            held.append((instance, human[row.instance_id]))
        elif row.preference != 0:
            chosen, rejected = (
                (instance.response_a, instance.response_b)
                if row.preference < 0
                else (instance.response_b, instance.response_a)
            )
            strength = float(row.strength or abs(row.preference) or 1.0)
            train.append((instance, chosen, rejected, strength))
    if not train:
        raise TrainingError(f"dataset_version: {run.dataset_version} has no non-tie training row")
    return train, held


def _held_out_rows(rows: list, human: dict[int, int | None], hyper: dict) -> set[int]:
    """Positions of the rows held out for testing: a seeded ``test_fraction`` of those with a non-tie human
    aggregate (the only ones an accuracy can be scored on)."""
    rng = np.random.default_rng(hyper.get("seed", 0))
    scorable = [position for position, row in enumerate(rows) if human[row.instance_id] not in (None, 0)]
    n_test = int(round(len(scorable) * float(hyper.get("test_fraction") or 0)))
    return set(rng.permutation(scorable)[:n_test].tolist())


def _limit_per_subset(triples: list[Triple], limit: int) -> list[Triple]:
    """The first ``limit`` triples of each subset, in file order."""
    seen: dict[str, int] = {}
    kept = []
    for triple in triples:
        seen[triple.subset] = seen.get(triple.subset, 0) + 1
        if seen[triple.subset] <= limit:
            kept.append(triple)
    return kept


def _evaluate(score_fn, held, hyper: dict) -> dict:
    """Held-out accuracy vs the human aggregate, and the RewardBench-style file if one is named."""
    metrics: dict[str, Any] = {}
    if held:
        prompts = [instance.prompt for instance, _ in held]
        rewards_a = score_fn(prompts, [instance.response_a for instance, _ in held])
        rewards_b = score_fn(prompts, [instance.response_b for instance, _ in held])
        gold = np.array([gold for _, gold in held])
        metrics["heldout"] = {"accuracy": float(np.mean((rewards_b - rewards_a) * gold > 0)), "n": len(held)}
    path = _eval_file(hyper.get("eval_file"))
    if path:
        triples = load_triples(path)
        if hyper.get("eval_limit_per_subset"):
            triples = _limit_per_subset(triples, int(hyper["eval_limit_per_subset"]))
        prompts = [triple.prompt for triple in triples]
        rewards_chosen = score_fn(prompts, [triple.chosen for triple in triples])
        rewards_rejected = score_fn(prompts, [triple.rejected for triple in triples])
        layout = BenchLayout.from_triples([t.subset for t in triples], [t.category for t in triples])
        metrics["bench"] = {
            "file": str(path),
            "n": len(triples),
            **scores_row(bench_scores(correct_flags(rewards_chosen[None], rewards_rejected[None]), layout)),
        }
    return metrics


def _train_config(run: RewardModelRun, backbone: str) -> TrainConfig:
    hyper = run.hyperparameters
    return TrainConfig(
        backbone=backbone,
        loss=run.loss,
        lr=hyper["lr"],
        batch_size=hyper["batch_size"],
        max_length=hyper["max_length"],
        epochs=hyper["epochs"],
        max_steps=hyper["max_steps"],
        seed=hyper["seed"],
        device=hyper.get("device", "cpu"),
        lora_r=hyper.get("lora_r", 0),
    )


def _fit_transformer(run: RewardModelRun, model: TransformerRewardModel, train: list, target: Path) -> dict:
    """Train on the pairs (progress reported, stopping when cancelled) and save the artifact to ``target``."""
    examples = [
        PairExample(instance.prompt, chosen, rejected, strength)
        for instance, chosen, rejected, strength in train
    ]
    steps_seen = {"count": 0}

    def progress(step: int, total: int, loss: float) -> None:
        _progress(run, step, total, f"step {step}/{total} loss {loss:.4f}")
        steps_seen["count"] += 1

    def should_stop() -> bool:
        return steps_seen["count"] % CANCEL_CHECK_EVERY == 0 and _cancel_requested(run)

    out = model.train(examples, progress, should_stop)
    log_to_run(
        run,
        f"trained {out['steps']} steps in {out['train_seconds']:.1f}s, final loss {out['loss_curve'][-1]:.4f}",
    )
    model.save(target, {"run": run.pk, "data_order": out["data_order"]})
    return out


def _train_transformer(run: RewardModelRun) -> dict:
    train, held = _version_examples(run)
    base = artifact_root() / f"reward-model-{run.pk}"
    previous = sorted(p for p in base.glob("attempt-*") if is_complete_artifact(p)) if base.exists() else []
    model = TransformerRewardModel(_train_config(run, str(previous[-1]) if previous else run.backbone))
    out: dict[str, Any] = {}
    if previous:
        log_to_run(run, f"reusing the complete artifact of {previous[-1].name}; evaluating only")
        target = previous[-1]
    else:
        log_to_run(
            run, f"training {run.loss} on {len(train)} pairs ({model.config.device}), {len(held)} held out"
        )
        target = base / f"attempt-{run.attempts}"
        out = _fit_transformer(run, model, train, target)
    metrics = _evaluate(model.score, held, run.hyperparameters)
    metrics["training"] = {key: out[key] for key in ("steps", "train_seconds", "loss_curve") if key in out}
    return {"metrics": metrics, "artifact_path": str(target)}


def _train_proxy(run: RewardModelRun) -> dict:
    train, held = _version_examples(run)
    proxy_settings = ProxySettings(loss=run.loss if run.loss != "regression" else "bt")
    cache = embedding_cache()
    prompts = [instance.prompt for instance, *_ in train]
    features_chosen = response_phi(
        cache, proxy_settings, prompts, [chosen for _, chosen, _, _ in train], None
    )
    features_rejected = response_phi(
        cache, proxy_settings, prompts, [rejected for _, _, rejected, _ in train], None
    )
    # chosen is "a" here, so every preference is -strength
    model = ProxyRewardModel(proxy_settings).fit(
        features_chosen, features_rejected, [-strength for *_, strength in train]
    )
    target = artifact_root() / f"reward-model-{run.pk}" / f"attempt-{run.attempts}"
    target.mkdir(parents=True, exist_ok=True)
    np.save(target / "coef.npy", model.coef_)

    def score(prompts: list[str], responses: list[str]) -> np.ndarray:
        return response_phi(cache, proxy_settings, prompts, responses, None) @ model.coef_

    return {"metrics": _evaluate(score, held, run.hyperparameters), "artifact_path": str(target)}


def execute_reward_model_run(run_id: int) -> dict:
    def body(run: RewardModelRun) -> dict:
        return _train_transformer(run) if run.kind == RewardModelRun.Kind.TRANSFORMER else _train_proxy(run)

    return execute_run(RewardModelRun, run_id, body)


# ---------------------------------------------------------------- PPM loop and experiment ----------------


def project_tag_table_for(run) -> TagTable:
    """The project's routing-core tag table from stored ``routing.TagValue`` rows (90 paper features:
    binned textual tags + descriptive tags from LM-tagger records, all zero where there are none).

    Missing textual tags are computed first when the run asks for it (``compute_tags``); otherwise the run
    fails with a message that says to run ``manage.py compute_tags <project>``.
    """
    project = run.project
    if run.params.get("compute_tags") and missing_instances(project, RECOMMENDED):
        log_to_run(run, "computing missing textual tags (routing.app.services.compute_project_tags)")
        compute_project_tags(project, RECOMMENDED, progress=lambda d, t, m: _progress(run, d, t, m))
    try:
        return project_tag_table(project, RECOMMENDED, lm_judge=run.lm_judge)
    except RoutingError as exc:
        raise TrainingError(str(exc)) from exc


def _routing_pool(run) -> tuple[RoutingPool, list, TagTable]:
    pairs = project_pairs(run.project, run.lm_judge)
    table = project_tag_table_for(run)
    pool, kept = pool_from_instances(pairs, run.lm_judge, embedding_cache(), table)
    return pool, kept, table


def _bench(path: str | None) -> BenchFeatures | None:
    if not path:
        return None
    return BenchFeatures.build(load_triples(path), embedding_cache(), ProxySettings())


def _store_training_rows(run: PPMLoopRun, result: LoopResult) -> None:
    """The loop's candidates as ``PPMTrainingRow`` rows, replaced as a whole: a rerun never duplicates them."""
    with transaction.atomic():
        PPMTrainingRow.objects.filter(loop=run).delete()
        PPMTrainingRow.objects.bulk_create(
            [
                PPMTrainingRow(
                    loop=run,
                    candidate=row["candidate"],
                    human_share=row["human_share"],
                    features=row["features"],
                    scores=row["scores"],
                )
                for row in result.rows()
            ]
        )


def _log_ppm_metrics(run: PPMLoopRun, result: LoopResult) -> None:
    for target_name, metrics in result.ppm_metrics.items():
        for metric in metrics:
            log_to_run(
                run,
                f"{target_name} {metric['kind']}: Spearman {metric['spearman']:.3f} "
                f"RMSE(x100) {metric['rmse_x100']:.3f} "
                f"(paper Table 2: {metric['paper_spearman']} / {metric['paper_rmse_x100']})",
            )


def _loop_targets(run: PPMLoopRun, pool_size: int) -> list:
    """Held-out splits of the pool, and the benchmark file when one is named."""
    targets: list = [HeldoutTarget.make(pool_size, 5, 0.3, run.params.get("seed", 0))]
    bench = _bench(_eval_file(run.params.get("eval_file")))
    if bench is not None:
        targets.append(BenchTarget(bench))
    return targets


def execute_ppm_loop(run_id: int) -> dict:
    def body(run: PPMLoopRun) -> dict:
        pool, kept, table = _routing_pool(run)
        log_to_run(
            run,
            f"pool: {len(kept)} of {len(table.instance_ids)} instances (ties under either source "
            f"dropped), {pool.tags.shape[1]} tag features from routing.TagValue",
        )

        def progress(done: int, total: int, message: str) -> None:
            _progress(run, done, total, message)
            if _cancel_requested(run):
                raise TrainingCancelled(f"stopped after {done} of {total} candidates")

        seed = run.params.get("seed", 0)
        targets = _loop_targets(run, len(kept))
        result = run_loop(pool, targets, k=run.params.get("k", 200), seed=seed, progress=progress)
        _store_training_rows(run, result)
        artifacts = register_loop_ppms(run, result, table)  # after the rows they name as training data
        _log_ppm_metrics(run, result)
        log_to_run(
            run,
            "PPM artifacts (manage.py route --ppm NAME): " + ", ".join(a.name for a in artifacts.values()),
        )
        metrics = {
            "ppm": result.ppm_metrics,
            "timings": result.timings,
            "pool_size": len(kept),
            "feature_names": result.feature_names,
            "ppm_artifacts": {target: artifact.name for target, artifact in artifacts.items()},
        }
        return {"metrics": metrics, "artifact_path": next(iter(artifacts.values())).path}

    return execute_run(PPMLoopRun, run_id, body)


def loop_ppm_name(run: PPMLoopRun, target: str) -> str:
    return f"ppm-loop-{run.pk}-{target}"


def register_loop_ppms(run: PPMLoopRun, result: LoopResult, table: TagTable) -> dict:
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


EXPERIMENT_PARAMS = frozenset(
    {
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
)


def _experiment_config(params: dict) -> ExperimentConfig:
    """The experiment's configuration from the run's params (``compute_tags`` and ``eval_file`` are not its)."""
    fields = {key: value for key, value in params.items() if key not in ("compute_tags", "eval_file")}
    unknown = set(fields) - EXPERIMENT_PARAMS
    if unknown:
        raise TrainingError(f"params: unknown keys {sorted(unknown)}")
    return ExperimentConfig(**fields)


def execute_routing_experiment(run_id: int) -> dict:
    def body(run: RoutingExperiment) -> dict:
        config = _experiment_config(run.params)
        pool, kept, _ = _routing_pool(run)
        bench = _bench(_eval_file(run.params.get("eval_file")))
        rows = run_experiment(
            pool, bench, config, lambda done, total, message: _progress(run, done, total, message)
        )
        summary = summarise(rows)
        target = artifact_root() / f"routing-experiment-{run.pk}"
        target.mkdir(parents=True, exist_ok=True)
        plot(summary, str(target / "routing_experiment.png"))
        plot(summary, str(target / "routing_experiment.svg"))
        log_to_run(run, "\n" + format_table(summary))
        return {
            "rows": rows,
            "summary": summary,
            "plot_path": str(target / "routing_experiment.png"),
            "metrics": {"pool_size": len(kept)},
        }

    return execute_run(RoutingExperiment, run_id, body)
