"""routing.training_runs: reward-model runs through the job record, queue choice, cancel / crash / resume, the
PPM loop command, on a slice of real PandaLM imported into a project."""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def embedding_dir():
    """A persistent content-keyed embedding cache (var/embeddings, shared with the bench): each text is
    encoded once across runs; entries are keyed by model + text hash, so sharing cannot give wrong vectors."""
    path = Path(
        os.environ.get(
            "HYBRIDPREF_TEST_EMBEDDING_CACHE", Path(__file__).resolve().parents[2] / "var" / "embeddings"
        )
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def pandalm_project(project, shared_data, tmp_path, settings, embedding_dir):
    """The first 150 PandaLM rows imported with the real importer, aggregates refreshed, an all-human version."""
    from annotation.datasets.services import build_dataset_version, refresh_aggregates
    from annotation.importing.writer import import_file

    settings.DATA_DIR = tmp_path
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.HYBRIDPREF_EMBEDDING_CACHE = embedding_dir
    src = shared_data / "pandalm" / "pandalm.jsonl"
    part = tmp_path / "pandalm-150.jsonl"
    with open(src) as handle:
        part.write_text("".join(itertools.islice(handle, 150)))
    import_file(project, part)
    refresh_aggregates(project)
    version = build_dataset_version(project, "all-human", mode="all_human")
    return project, version


def cheap_textual_tags(pairs, mode=None, tags=None, device=None, **kw):
    """Real length tags, similarity tags from word overlap: no model loaded (the bench uses the real ones)."""
    from routing.textual import SIMILARITY_TAGS, TAG_NAMES, length_tags

    values = dict(length_tags(pairs))
    overlap = []
    for p in pairs:
        a, b = set(p.response_a.lower().split()), set(p.response_b.lower().split())
        overlap.append(len(a & b) / max(len(a | b), 1))
    for j, tag in enumerate(SIMILARITY_TAGS):
        values[tag] = np.clip(np.asarray(overlap) * (1 + 0.1 * j), 0, 1)
    return {t: np.asarray(values[t], dtype=float) for t in (tags or TAG_NAMES)}


@pytest.fixture
def cheap_tags(monkeypatch):
    monkeypatch.setattr("routing.app.services.compute_textual_tags", cheap_textual_tags)


@pytest.fixture
def tagged_project(pandalm_project, cheap_tags):
    """The project with its textual tags stored as routing.TagValue rows (manage.py compute_tags)."""
    call_command("compute_tags", pandalm_project[0].name)
    return pandalm_project


def test_queue_follows_gpu_setting(pandalm_project, settings, django_capture_on_commit_callbacks):
    """The task is sent only once the run's rows commit (Job.enqueue), on the queue the run names."""
    from routing.training_runs import launch, records

    project, version = pandalm_project
    settings.HYBRIDPREF_GPU_WORKER = True
    with django_capture_on_commit_callbacks(execute=False) as sends:
        run = launch.start_reward_model_run(project, version, loss="scaled_bt")
    assert run.queue == "gpu" and run.hyperparameters["device"] == "cuda"
    assert len(sends) == 1 and run.job.status == "pending" and run.job.celery_task_id == ""
    settings.HYBRIDPREF_GPU_WORKER = False
    with django_capture_on_commit_callbacks(execute=False) as sends:
        run = launch.start_reward_model_run(project, version)
    assert run.queue == "default" and run.hyperparameters["device"] == "cpu" and len(sends) == 1
    with pytest.raises(records.TrainingError, match="loss"):
        launch.start_reward_model_run(project, version, loss="hinge")
    with pytest.raises(records.TrainingError, match="unknown keys"):
        launch.start_reward_model_run(project, version, hyperparameters={"lrr": 1})


def test_celery_task_runs_the_job_after_commit(pandalm_project, django_capture_on_commit_callbacks):
    """The real dispatch: Job.enqueue's commit callback sends the Celery task by its registered name (run
    eagerly here), which executes the job through Job.execute and the run's own lifecycle. The tasks are
    registered as a worker registers them when it starts (Celery's autodiscovery of every app's tasks)."""
    from platform.celery_app import app
    from routing.training_runs import launch
    from routing.training_runs.models import Status

    app.loader.import_default_modules()
    assert set(launch.TASK_NAMES.values()) <= set(app.tasks)
    project, version = pandalm_project
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = launch.start_reward_model_run(project, version, kind="proxy")
    finally:
        app.conf.task_always_eager = before
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert run.job.status == "succeeded" and run.job.celery_task_id and run.job.result["run"] == run.pk


def test_cancel_pending_and_crash_then_resume(pandalm_project):
    """(Tasks are queued on commit, which never comes inside a test's transaction: nothing is sent.)"""
    from routing.training_runs import launch, records
    from routing.training_runs.execution import execute_job
    from routing.training_runs.models import RewardModelRun, Status

    project, version = pandalm_project
    run = launch.start_reward_model_run(project, version, kind="proxy")
    records.request_cancel(run)
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and run.job.status == "cancelled"
    # a run whose worker died: "running" with an old heartbeat
    crashed = launch.start_reward_model_run(
        project, version, kind="proxy", hyperparameters={"test_fraction": 0.3}
    )
    first_job = crashed.job
    RewardModelRun.objects.filter(pk=crashed.pk).update(
        status=Status.RUNNING, attempts=1, heartbeat_at=timezone.now() - timedelta(hours=2)
    )
    assert records.mark_crashed() == 1
    crashed.refresh_from_db()
    assert crashed.status == Status.CRASHED
    launch.resume(crashed, execute_here=execute_job)
    crashed.refresh_from_db()
    assert crashed.status == Status.SUCCEEDED, crashed.error
    assert crashed.job != first_job and crashed.job.status == "succeeded"  # one job per attempt
    assert crashed.attempts == 2 and crashed.artifact_path.endswith("attempt-2")
    assert 0.5 < crashed.metrics["heldout"]["accuracy"] <= 1.0
    with pytest.raises(records.TrainingError, match="nothing to resume"):
        launch.resume(crashed)


@pytest.mark.slow
def test_transformer_reward_model_end_to_end(pandalm_project, shared_data):
    """MiniLM + scalar head, BT loss, a few CPU steps, scored on held-out pairs and rm-eval via the record."""
    from routing.training_runs.execution import execute_job
    from routing.training_runs.launch import start_reward_model_run
    from routing.training_runs.models import Status

    project, version = pandalm_project
    hyper = {
        "max_steps": 8,
        "batch_size": 4,
        "max_length": 128,
        "test_fraction": 0.2,
        "eval_file": str(shared_data / "rm-eval" / "rm-eval.jsonl"),
        "eval_limit_per_subset": 2,
    }
    run = start_reward_model_run(project, version, loss="bt", hyperparameters=hyper, execute_here=execute_job)
    assert run.status == Status.SUCCEEDED, run.error
    assert run.job.status == "succeeded" and run.job.result["run"] == run.pk
    assert run.metrics["training"]["steps"] == 8 and len(run.metrics["training"]["loss_curve"]) == 8
    assert run.metrics["heldout"]["n"] > 20
    bench = run.metrics["bench"]
    assert set(bench["categories"]) == {"bias", "chat", "chat-hard", "safety"} and len(bench["subsets"]) == 17
    assert (run.metrics and run.artifact_path) and "trained 8 steps" in run.logs
    assert (Path(run.artifact_path) / "done.json").exists()


def test_ppm_loop_command(tagged_project, capsys):
    """The loop reads the routing core's tag matrix from routing.TagValue and stores its PPMs as
    routing.PPMArtifact rows that ``manage.py route --ppm`` uses on the same project."""
    from routing.app.models import PPMArtifact, RoutingRun
    from routing.binning import PAPER_FEATURES
    from routing.training_runs.models import PPMLoopRun, PPMTrainingRow
    from routing.uncertainty import UNCERTAINTY_FEATURES

    project, _ = tagged_project
    call_command("ppm_loop", project.name, "--k", "12", "--sync")
    run = PPMLoopRun.objects.get()
    assert run.status == "succeeded", run.error
    assert PPMTrainingRow.objects.filter(loop=run).count() == 12
    kinds = {m["kind"] for m in run.metrics["ppm"]["heldout"]}
    assert kinds == {"linear", "quadratic", "lightgbm"}
    # the paper's 90 tags, the judges' uncertainty tags (two judges in the imported file), the human share
    assert run.metrics["feature_names"] == [*PAPER_FEATURES, *UNCERTAINTY_FEATURES, "human_share"]
    assert len(PPMTrainingRow.objects.filter(loop=run).first().features) == 101
    name = run.metrics["ppm_artifacts"]["heldout"]
    artifact = PPMArtifact.objects.get(name=name)
    assert artifact.project == project and artifact.kind == "quadratic"
    assert artifact.metadata["loop_run"] == run.pk and artifact.metadata["target"] == "heldout"
    assert run.artifact_path == artifact.path and "Spearman" in capsys.readouterr().out
    ppm = artifact.load()
    assert ppm.feature_names_ == run.metrics["feature_names"]
    call_command("route", project.name, "--ppm", name, "--budget", "0.25", "--strategy", "top_k")
    routed = RoutingRun.objects.get()
    assert routed.ppm == artifact and routed.decisions.count() == project.instances.count()
    # a rerun of the same loop replaces its artifacts by name instead of adding more
    from types import SimpleNamespace

    from routing.training_runs import execution

    again = SimpleNamespace(ppms={"heldout": ppm}, masks=np.zeros((1, 5), bool))
    execution.register_loop_ppms(run, again, execution.project_tag_table_for(run))
    assert PPMArtifact.objects.filter(name=name).count() == 1


def test_ppm_loop_without_tags_says_to_compute_them(pandalm_project):
    from routing.training_runs.models import PPMLoopRun

    project, _ = pandalm_project
    with pytest.raises(CommandError, match=f"manage.py compute_tags {project.name}"):
        call_command("ppm_loop", project.name, "--k", "12", "--sync")
    run = PPMLoopRun.objects.get()
    assert run.status == "failed" and "lack textual tags" in run.error


def test_ppm_loop_can_compute_missing_tags(pandalm_project, cheap_tags):
    from routing.app.models import TagValue
    from routing.training_runs.models import PPMLoopRun

    project, _ = pandalm_project
    call_command("ppm_loop", project.name, "--k", "8", "--compute-tags", "--sync")
    run = PPMLoopRun.objects.get()
    assert run.status == "succeeded", run.error
    assert TagValue.objects.filter(instance__project=project).count() == 9 * project.instances.count()
    assert "computing missing textual tags" in run.logs


def test_api_start_list_cancel(pandalm_project, researcher, api_client):
    project, version = pandalm_project
    api_client.force_authenticate(researcher)
    r = api_client.post(
        "/api/training/reward-models/",
        {
            "project": project.pk,
            "dataset_version": version.pk,
            "loss": "margin_bt",
            "hyperparameters": {"max_steps": 3},
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (
        body["status"] == "pending"
        and body["queue"] == "default"
        and body["hyperparameters"]["max_steps"] == 3
    )
    assert [x["id"] for x in api_client.get("/api/training/reward-models/").json()["results"]] == [body["id"]]
    r = api_client.post(f"/api/training/reward-models/{body['id']}/cancel/")
    assert r.json()["status"] == "cancelled"
    bad = api_client.post(
        "/api/training/reward-models/",
        {"project": project.pk, "dataset_version": version.pk, "loss": "hinge"},
        format="json",
    )
    assert bad.status_code == 400 and "loss" in bad.json()["detail"]


def test_running_loop_stops_when_cancel_requested(tagged_project):
    from routing.app.models import PPMArtifact
    from routing.training_runs import execution, launch
    from routing.training_runs.models import PPMLoopRun, PPMTrainingRow

    project, _ = tagged_project
    run = launch.start_ppm_loop(project, "gpt-3.5-turbo", k=80)
    PPMLoopRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # asked while it runs
    execution.execute_job(run.job)
    run.refresh_from_db()
    assert run.status == "cancelled" and "stopped after 40 of 80" in run.error
    assert run.job.status == "cancelled" and not PPMTrainingRow.objects.filter(loop=run).exists()
    assert not PPMArtifact.objects.exists()


def test_routing_experiment_command(pandalm_project, cheap_tags, capsys):
    from pathlib import Path

    from routing.training_runs.models import RoutingExperiment

    project, _ = pandalm_project
    call_command(
        "routing_experiment",
        project.name,
        "--seeds",
        "0",
        "1",
        "--k",
        "12",
        "--strategies",
        "top_k",
        "greedy",
        "--budgets",
        "0.5",
        "--compute-tags",
        "--sync",
    )
    run = RoutingExperiment.objects.get()
    assert run.status == "succeeded", run.error
    methods = {(s["method"], s["budget"]) for s in run.summary}
    assert {
        ("random labels", None),
        ("100% human", 1.0),
        ("100% LM", 0.0),
        ("random", 0.5),
        ("routed", 0.5),
    } <= methods
    assert Path(run.plot_path).exists() and Path(run.plot_path).with_suffix(".svg").exists()
    assert "random labels" in capsys.readouterr().out
