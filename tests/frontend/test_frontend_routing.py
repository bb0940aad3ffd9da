"""The researcher's routing page, a routing run's page, project setup and results: who may open them, what
they start, and that their numbers are the commands' numbers (``manage.py route`` / ``gain_report``)."""

from __future__ import annotations

import csv

import pytest
from django.core.management import call_command

from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _url(project, suffix: str = "") -> str:
    return f"/projects/{project.name}/{suffix}"


def test_roles_and_styled_error_pages(client, routable, researcher, annotator):
    from annotation.models import ProjectMembership

    ProjectMembership.objects.create(project=routable, user=annotator, role="annotator")
    for suffix in ("routing/", "setup/", "results/", "routing/curve.svg"):
        assert client.get(_url(routable, suffix)).status_code == 302  # to the sign-in page
        client.force_login(annotator)
        denied = client.get(_url(routable, suffix))
        assert denied.status_code == 403
        assert "Back to your projects" in denied.content.decode()
        client.force_login(researcher)
        assert client.get(_url(routable, suffix)).status_code == 200, suffix
        client.logout()
    client.force_login(researcher)
    missing = client.get("/projects/nope/routing/")
    assert missing.status_code == 404 and 'id="error-404"' in missing.content.decode()
    assert "Back to your projects" in missing.content.decode()
    client.force_login(annotator)
    assert client.post(_url(routable, "routing/tags/")).status_code == 403
    assert client.get("/projects/new/").status_code == 403


def test_curve_and_picked_budget_are_what_route_predicts(client, routable, researcher):
    from routing.app.models import RoutingRun

    client.force_login(researcher)
    for strategy in ("top_k", "simulated"):
        page = client.get(
            _url(routable, "routing/"), {"ppm": "ppm-frontend", "strategy": strategy, "budget": "25%"}
        )
        assert page.status_code == 200
        picked, curve = page.context["picked"], page.context["curve"]
        assert picked["count"] == 20 and picked["annotations"] == 20 * 4  # overlap 2 normal + 2 expert
        call_command(
            "route", routable.name, "--ppm", "ppm-frontend", "--budget", "20", "--strategy", strategy
        )
        run = RoutingRun.objects.filter(project=routable).latest("id")
        assert run.budget == 20
        assert picked["routed"] == pytest.approx(run.predicted_performance, abs=1e-9)
        assert curve.routed[curve.shares.index(0.25)] == pytest.approx(run.predicted_performance, abs=1e-9)
        assert picked["gain"] == pytest.approx(picked["routed"] - picked["random"])
        assert f"{run.predicted_performance:.4f}" in page.content.decode()
    # Long pairs carry the human-label value in this project: routing beats random mixes along the curve.
    assert all(r > q for r, q in zip(curve.routed[1:-1], curve.random[1:-1], strict=True))
    svg = client.get(_url(routable, "routing/curve.svg"), {"ppm": "ppm-frontend", "budget": "0.25"})
    assert svg["Content-Type"] == "image/svg+xml" and svg.content.startswith(b"<svg")


@pytest.mark.parametrize(
    ("typed", "words"),
    [("", "type a share"), ("150%", "between 0% and 100%"), ("81", "between 0 and 80"), ("lots", "neither")],
)
def test_bad_budget_is_a_sentence(client, routable, researcher, typed, words):
    client.force_login(researcher)
    page = client.get(_url(routable, "routing/"), {"budget": typed or " "})
    assert words in page.context["budget_error"] and page.context.get("picked") is None
    before = routable.routing_runs.count()
    shown = client.post(_url(routable, "routing/route/"), {"budget": typed, "strategy": "top_k"}, follow=True)
    assert any(words in str(m) for m in shown.context["messages"])
    assert routable.routing_runs.count() == before


def test_route_button_run_page_and_gain_report_agree(client, routable, researcher, tmp_path):
    from routing.app.models import RoutingDecision

    client.force_login(researcher)
    response = client.post(
        _url(routable, "routing/route/"), {"budget": "10", "strategy": "top_k", "ppm": "ppm-frontend"}
    )
    run = routable.routing_runs.latest("id")
    assert response.status_code == 302 and response["Location"] == _url(routable, f"routing/runs/{run.pk}/")
    page = client.get(response["Location"])
    human = RoutingDecision.objects.filter(run=run, route="human")
    listed = [r["decision"] for r in page.context["rows"]]
    assert {d.instance_id for d in listed} == set(human.values_list("instance_id", flat=True)) and len(
        listed
    ) == 10
    assert [d.gain for d in listed] == sorted((d.gain for d in listed), reverse=True)
    ascending = client.get(response["Location"], {"sort": "-gain"}).context["rows"]
    assert [r["decision"].gain for r in ascending] == sorted(d.gain for d in listed)

    out = tmp_path / "gains.csv"
    call_command("gain_report", routable.name, "--ppm", "ppm-frontend", "--out", str(out))
    with out.open() as fh:
        expected = {row["tag"]: row for row in csv.DictReader(fh)}
    shown = page.context["gains"]
    assert [r["tag"] for r in shown] == list(expected)
    for row in shown:
        if row["n"]:
            assert row["gain"] == pytest.approx(float(expected[row["tag"]]["gain"]), abs=1e-12)
    assert shown[0]["tag"].startswith(("len_", "token_len", "prompt_len"))  # the PPM values long pairs

    driving = page.context["rows"][0]["tags"]
    assert driving, "the routed instance with the largest gain names the tags that drove it"
    filtered = client.get(response["Location"], {"tag": driving[0]}).context["rows"]
    assert filtered and all(driving[0] in r["tags"] for r in filtered)
    chart = client.get(_url(routable, f"routing/runs/{run.pk}/gains.svg"))
    assert chart["Content-Type"] == "image/svg+xml" and b"gain per routed instance" in chart.content


def test_tags_and_loop_buttons_start_jobs(client, routable, researcher, django_capture_on_commit_callbacks):
    from annotation.models import Job
    from routing.app.tasks import TAGS_JOB
    from routing.training_runs.models import PPMLoopRun

    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(_url(routable, "routing/tags/"))
    job = Job.objects.get(project=routable, kind=TAGS_JOB)
    assert len(callbacks) == 1 and job.created_by == researcher
    page = client.get(_url(routable, "routing/")).content.decode()
    assert f'data-job-id="{job.pk}"' in page and "jobs.js" in page
    again = client.post(_url(routable, "routing/tags/"), follow=True)
    assert "still running" in str(list(again.context["messages"])[-1])

    for posted, words in [
        ({"judge": "demo-judge", "k": "3"}, "K (candidates): 3 is not between"),
        ({"judge": "nobody", "k": "20"}, "has no labels in this project"),
    ]:
        shown = client.post(_url(routable, "routing/loop/"), posted, follow=True)
        assert any(words in str(m) for m in shown.context["messages"]), posted
    assert not PPMLoopRun.objects.filter(project=routable).exists()


def test_new_project_setup_members_and_results(client, researcher, annotator):
    from annotation.models import Project, ProjectMembership

    client.force_login(researcher)
    bad = client.post("/projects/new/", {"name": "has space", "scheme": "multipref"}, follow=True)
    assert any(str(m).startswith("name:") for m in bad.context["messages"])
    created = client.post("/projects/new/", {"name": "fresh", "scheme": "helpsteer2", "description": "d"})
    project = Project.objects.get(name="fresh")
    assert created["Location"] == "/projects/fresh/setup/" and project.scheme["kind"] == "helpsteer2"
    setup = client.get("/projects/fresh/setup/").content.decode()
    assert 'data-url="/api/projects/fresh/imports/"' in setup and "setup.js" in setup

    client.post("/projects/fresh/setup/members/", {"username": annotator.username, "role": "annotator"})
    membership = ProjectMembership.objects.get(project=project, user=annotator)
    client.post("/projects/fresh/setup/members/", {"username": annotator.username, "role": "researcher"})
    membership.refresh_from_db()
    assert membership.role == "researcher"
    unknown = client.post(
        "/projects/fresh/setup/members/", {"username": "ghost", "role": "annotator"}, follow=True
    )
    assert any("Member username" in str(m) for m in unknown.context["messages"])
    client.post(f"/projects/fresh/setup/members/{membership.pk}/remove/")
    assert not ProjectMembership.objects.filter(pk=membership.pk).exists()
    own = ProjectMembership.objects.get(project=project, user=researcher)
    client.post(f"/projects/fresh/setup/members/{own.pk}/remove/")
    assert ProjectMembership.objects.filter(pk=own.pk).exists()

    results = client.get("/projects/fresh/results/")
    assert [t["tier"] for t in results.context["tiers"]] == ["normal", "expert"]
    assert "Build a dataset version on the dashboard first" in results.content.decode()
    other = make_user("researcher3", "researcher")
    client.force_login(other)
    assert client.get("/projects/fresh/setup/").status_code in (403, 404)  # 404: outsiders cannot probe names


def test_cancel_a_queued_ppm_loop(client, routable, researcher, annotator):
    from routing.training_runs.models import PPMLoopRun
    from routing.training_runs.records import create_ppm_loop

    loop = create_ppm_loop(routable, "demo-judge", k=20, user=researcher)  # queued, never sent
    url = _url(routable, f"routing/loop/{loop.pk}/cancel/")
    client.force_login(researcher)
    page = client.get(_url(routable, "routing/")).content.decode()
    assert f'action="/{url.lstrip("/")}"' in page and 'id="lm-jobs"' in page
    client.force_login(annotator)  # not a member
    assert client.post(url).status_code == 404
    client.force_login(researcher)
    shown = client.post(url, follow=True)
    loop.refresh_from_db()
    assert loop.status == "cancelled" and loop.job.status == "cancelled"
    assert "Asked PPM loop" in str(list(shown.context["messages"])[-1])
    again = client.post(url, follow=True)
    assert "nothing to cancel" in str(list(again.context["messages"])[-1])
    assert PPMLoopRun.objects.filter(project=routable).count() == 1


def test_results_page_starts_a_reward_model_run(
    client, routable, researcher, django_capture_on_commit_callbacks
):
    from annotation.datasets.services import build_dataset_version
    from routing.training_runs.models import RewardModelRun

    build_dataset_version(routable, "all-lm", mode="all_lm", judge="demo-judge")
    client.force_login(researcher)
    page = client.get(_url(routable, "results/")).content.decode()
    assert 'id="train-form"' in page and '<option value="all-lm">' in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        shown = client.post(
            _url(routable, "results/train/"), {"version": "all-lm", "kind": "proxy", "loss": "bt"}
        )
    assert shown.status_code == 302 and len(callbacks) == 1  # the task is sent once the run is committed
    run = RewardModelRun.objects.get(project=routable)
    assert (run.kind, run.loss, run.dataset_version.name, run.created_by) == (
        "proxy",
        "bt",
        "all-lm",
        researcher,
    )
    assert f'data-run="{run.pk}"' in client.get(_url(routable, "results/")).content.decode()
    bad = client.post(_url(routable, "results/train/"), {"version": "nope", "kind": "proxy"}, follow=True)
    assert "choose one of the project's dataset versions" in str(list(bad.context["messages"])[-1])
    assert RewardModelRun.objects.filter(project=routable).count() == 1
