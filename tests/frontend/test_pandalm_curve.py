"""The researcher's routing page on the real PandaLM file (read in place from ../shared/data): real textual
tags, a PPM loop on GPT-3.5's labels and a small routing experiment; the budget curve is drawn with the
experiment's measured points on it."""

from __future__ import annotations

from itertools import islice

import pytest

from annotation.importing.writer import import_file
from routing.app.services import compute_project_tags
from routing.training_runs import launch
from routing.training_runs.execution import execute_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
N_INSTANCES = 120
JUDGE = "gpt-3.5-turbo"


def test_curve_with_measured_points_on_pandalm(client, project, researcher, pandalm_path, tmp_path):
    subset = tmp_path / "pandalm-head.jsonl"
    with pandalm_path.open() as source:
        subset.write_text("".join(islice(source, N_INSTANCES)))
    import_file(project, subset)
    compute_project_tags(project)
    loop = launch.start_ppm_loop(project, JUDGE, k=16, execute_here=execute_job)
    assert loop.status == "succeeded", loop.error
    experiment = launch.start_routing_experiment(
        project,
        JUDGE,
        params={"budgets": [0.25, 0.5], "strategies": ["top_k"], "seeds": [0, 1], "k": 16, "inner_splits": 2},
        execute_here=execute_job,
    )
    assert experiment.status == "succeeded", experiment.error

    client.force_login(researcher)
    page = client.get(f"/projects/{project.name}/routing/", {"budget": "25%"})
    curve = page.context["curve"]
    assert curve is not None and len(curve.routed) == 21 and curve.n == N_INSTANCES
    assert {p["method"] for p in curve.measured} >= {"random", "routed (top_k)"}
    assert page.context["picked"]["count"] == 30
    svg = client.get(f"/projects/{project.name}/routing/curve.svg").content.decode()
    assert "measured: routed (top_k)" in svg
