"""The Django layer: tag computation job (resumable), PPM registration, routing runs, gain report, API."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from routing.textual import TAG_NAMES, compute_textual_tags

N = 12


@pytest.fixture
def instances(project):
    from annotation.models import Instance

    return [
        Instance.objects.create(
            project=project,
            external_id=f"i{k}",
            prompt=f"question {k} " * (k + 1),
            response_a=f"answer {k} " * (k + 2),
            response_b=f"reply {k} " * (2 * k + 1) if k != 3 else "",
        )
        for k in range(N)
    ]


class FakeTags:
    """Stands in for the model-based extractor: deterministic values, records what it was asked, can crash."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.crash_after = crash_after

    def __call__(self, pairs, mode=None, tags=TAG_NAMES, device=None, **kw):
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise RuntimeError("worker killed")
        self.calls.append([p.response_a for p in pairs])
        n = len(pairs)
        return {
            t: np.array([(len(p.response_a) * (j + 3) % 97) / 97 for p in pairs])
            if j < 5
            else np.arange(n) * (j + 1.0)
            for j, t in enumerate(TAG_NAMES)
        }


@pytest.fixture
def fake(monkeypatch):
    f = FakeTags()
    monkeypatch.setattr("routing.app.services.compute_textual_tags", f)
    return f


@pytest.mark.django_db
def test_compute_tags_command_stores_values_and_edges(project, instances, fake):
    from annotation.models import Job
    from routing.app.models import LengthEdges, TagValue

    call_command("compute_tags", project.name, "--chunk-size", "5")
    assert TagValue.objects.filter(instance__project=project).count() == 9 * N
    job = Job.objects.get(kind="compute_tags")
    assert job.status == Job.Status.SUCCEEDED and job.result["computed"] == N
    assert job.progress["done"] == N
    assert LengthEdges.objects.filter(project=project).count() == 1
    call_command("compute_tags", project.name)  # nothing left to do: no model call, same rows
    assert len(fake.calls) == 3 and TagValue.objects.count() == 9 * N


@pytest.mark.django_db
def test_compute_tags_resumes_after_crash(project, instances, monkeypatch):
    from annotation.models import Job
    from platform.celery_app import app
    from routing.app.models import TagValue
    from routing.app.tasks import TAGS_JOB, compute_tags_task, run_tags_job

    assert app.amqp.router.route({}, compute_tags_task.name)["queue"].name == "tags"
    crashing = FakeTags(crash_after=2)
    monkeypatch.setattr("routing.app.services.compute_textual_tags", crashing)
    job = Job.objects.create(kind=TAGS_JOB, project=project, params={"chunk_size": 4})
    with pytest.raises(RuntimeError, match="worker killed"):
        run_tags_job(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert TagValue.objects.count() == 9 * 8  # two committed chunks survive
    resumed = FakeTags()
    monkeypatch.setattr("routing.app.services.compute_textual_tags", resumed)
    compute_tags_task.apply(args=[job.pk])  # the re-delivered task
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result["computed"] == 4
    assert sum(len(c) for c in resumed.calls) == 4  # finished instances were not redone
    assert TagValue.objects.count() == 9 * N


@pytest.mark.django_db
def test_tag_table_reads_prompt_tag_records(project, instances, fake):
    from django.apps import apps

    from routing.app.services import compute_project_tags, project_tag_table

    compute_project_tags(project)
    if apps.is_installed("annotation.judging"):
        Record = apps.get_model("judging", "PromptTagRecord")
        Record.objects.create(
            instance=instances[0],
            model="tagger",
            prompt_version="v1",
            answers={
                "safety_concern": ["moderate"],
                "languages": ["English"],
                "subject_of_expertise": "unknown",
            },
        )
    table = project_tag_table(project)
    assert table.matrix().shape == (N, 90)
    names = table.feature_names
    row = dict(zip(names, table.matrix()[0], strict=True))
    assert row["safety_concern=moderate"] == apps.is_installed("annotation.judging")
    assert not table.matrix()[1, 27:].any()  # no record: no descriptive feature fires


def _fit_ppm_from_candidates(project, tmp_path, name="ppm1"):
    import pandas as pd

    from routing.app.services import project_tag_table
    from routing.candidates import generate_candidates
    from routing.features import FeatureBuilder

    builder = FeatureBuilder(project_tag_table(project))
    cands = generate_candidates(builder.T, 60, np.random.default_rng(0))
    X = builder.transform(cands.masks)
    df = pd.DataFrame(X, columns=builder.feature_names)
    df["score"] = 0.6 + 0.1 * X[:, -1] - 0.2 * (X[:, -1] - 0.4) ** 2 + 0.05 * X[:, 1]
    df["candidate"] = [f"c{k}" for k in range(len(df))]
    path = tmp_path / "cands.parquet"
    df.to_parquet(path)
    call_command(
        "fit_ppm",
        str(path),
        "--name",
        name,
        "--exclude",
        "candidate",
        "--project",
        project.name,
        "--out-dir",
        str(tmp_path / "ppm"),
    )
    return builder


@pytest.mark.django_db
def test_fit_ppm_route_and_gain_report(project, instances, fake, tmp_path, capsys):
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun
    from routing.app.services import compute_project_tags

    compute_project_tags(project)
    _fit_ppm_from_candidates(project, tmp_path)
    art = PPMArtifact.objects.get(name="ppm1")
    assert art.kind == "quadratic" and "spearman" in art.metrics
    assert art.metadata["training_data_ref"].endswith("cands.parquet")
    assert art.load().predict(np.zeros((1, 91))).shape == (1,)

    for strategy, budget in (("simulated", "0.5"), ("greedy", "4"), ("top_k", "3")):
        call_command("route", project.name, "--ppm", "ppm1", "--budget", budget, "--strategy", strategy)
        run = RoutingRun.objects.order_by("-id").first()
        expected = 6 if budget == "0.5" else int(budget)
        assert run.strategy == strategy and run.budget == expected
        assert run.decisions.count() == N
        assert run.decisions.filter(route=RoutingDecision.Route.HUMAN).count() == expected
    assert RoutingRun.objects.get(strategy="simulated").budget_fraction == 0.5

    out = tmp_path / "gain.csv"
    call_command("gain_report", project.name, "--ppm", "ppm1", "--n", "3", "--trials", "2", "--out", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "tag,group,carriers,n,gain,gain_per_instance" and len(lines) == 91
    assert "written to" in capsys.readouterr().out


@pytest.mark.django_db
def test_route_errors(project, instances, fake, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="does not exist"):
        call_command("route", project.name, "--ppm", "nope", "--budget", "3")
    from routing.app.services import compute_project_tags

    compute_project_tags(project)
    _fit_ppm_from_candidates(project, tmp_path)
    with pytest.raises(CommandError, match="budget"):
        call_command("route", project.name, "--ppm", "ppm1", "--budget", "500")
    with pytest.raises(CommandError, match="no human budget"):
        call_command("route", project.name, "--ppm", "ppm1")


@pytest.mark.django_db
def test_api_researcher_sees_runs_annotator_does_not(
    project, instances, fake, tmp_path, researcher, annotator, api_client
):
    from routing.app.services import compute_project_tags

    compute_project_tags(project)
    _fit_ppm_from_candidates(project, tmp_path)
    call_command("route", project.name, "--ppm", "ppm1", "--budget", "2")
    api_client.force_authenticate(researcher)
    runs = api_client.get("/api/routing/runs/").json()
    assert runs["count"] == 1
    decisions = api_client.get(f"/api/routing/runs/{runs['results'][0]['id']}/decisions/").json()
    assert decisions["count"] == N
    api_client.force_authenticate(annotator)
    assert api_client.get("/api/routing/runs/").status_code == 403
    assert api_client.get("/api/routing/ppms/").status_code == 403


@pytest.mark.django_db
@pytest.mark.slow
def test_real_extractors_end_to_end(project, instances):
    """The real MiniLM/spaCy extractors through the service (3 instances, models cached per process)."""
    from routing.app.models import TagValue
    from routing.app.services import compute_project_tags

    for inst in instances[3:]:
        inst.delete()
    result = compute_project_tags(project, device="cpu")
    assert result["computed"] == 3
    values = dict(TagValue.objects.filter(instance=instances[0]).values_list("tag", "value"))
    assert set(values) == set(TAG_NAMES)
    assert compute_textual_tags is not None
