"""The researcher's project dashboard (/projects/<name>/): who may open it, what it shows, the budget form
and the export button."""

from __future__ import annotations

import pytest

from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _url(project, suffix: str = "") -> str:
    return f"/projects/{project.name}/{suffix}"


def _settings(project) -> tuple:
    project.refresh_from_db()
    return project.human_budget, project.human_budget_fraction, project.overlap


def test_roles(client, project, researcher, annotator, admin_user):
    from annotation.models import ProjectMembership

    ProjectMembership.objects.create(project=project, user=annotator, role="annotator")
    other = make_user("researcher2", "researcher")
    anonymous = client.get(_url(project))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/?next=")
    assert client.post(_url(project), {"human_budget": "3"}).status_code == 302
    # A member without the right role is refused (403); anyone else is told there is no such project (404).
    for user, expected in [(researcher, 200), (admin_user, 200), (annotator, 403), (other, 404)]:
        client.force_login(user)
        assert client.get(_url(project)).status_code == expected, user
        assert client.get(_url(project) + "?agreement=1").status_code == expected, user
    for user, expected in ((annotator, 403), (other, 404)):
        client.force_login(user)
        assert client.post(_url(project), {"human_budget": "3"}).status_code == expected
    assert _settings(project)[0] is None
    client.force_login(researcher)
    assert client.get("/projects/nope/").status_code == 404


def test_page_shows_every_section(client, filled, researcher):
    client.force_login(researcher)
    response = client.get(_url(filled))
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    page = response.content.decode()
    counts = response.context["counts"]
    assert counts["instances"] == 6 and counts["tags"] is None  # no tags job: the page links the routing page
    assert (counts["human_imported"], counts["human_platform"]) == (12, 6)
    assert [(r["judge"], r["n"]) for r in counts["lm_by_judge"]] == [("judge-x", 6)]
    assert response.context["progress"]["needed"] == 2  # the latest run routed 2 instances to people
    run = response.context["runs"][0]
    assert (run.human, run.decided, run.human_share) == (2, 6, pytest.approx(2 / 6))
    assert "33%" in page and "0.7123" in page and "ppm-dash" in page
    assert response.context["judges"] is None and 'id="show-judges"' in page  # reads every label: on demand
    assert client.get(_url(filled) + "?judges=1").context["judges"][0]["judge"] == "judge-x"
    assert response.context["agreement"] is None and 'id="show-agreement"' in page
    assert 'data-version="v1"' in page and "/exports/999/download/" in page
    assert "line 3: bad prompt" in page
    shown = client.get(_url(filled) + "?agreement=1")
    assert shown.context["agreement"]["human_labels"] == 18
    assert "Krippendorff&#x27;s alpha (nominal)" in shown.content.decode()


def test_budget_saved(client, project, researcher):
    client.force_login(researcher)
    response = client.post(
        _url(project),
        {"human_budget": "", "human_budget_fraction": "0.25", "overlap_normal": "3", "overlap_expert": "1"},
    )
    assert response.status_code == 302 and response["Location"] == _url(project)
    assert _settings(project) == (None, 0.25, {"normal": 3, "expert": 1})
    page = client.get(_url(project)).content.decode()
    assert "Saved the human budget" in page and 'value="0.25"' in page
    client.post(_url(project), {"human_budget": "40", "overlap_normal": "3", "overlap_expert": "1"})
    assert _settings(project) == (40, None, {"normal": 3, "expert": 1})


@pytest.mark.parametrize(
    ("posted", "field", "words"),
    [
        ({"human_budget": "5", "human_budget_fraction": "0.5"}, "non_field_errors", "not both"),
        ({"human_budget_fraction": "1.5"}, "human_budget_fraction", "[0, 1]"),
        ({"human_budget": "-2"}, "human_budget", "greater than or equal to 0"),
        ({"human_budget": "many"}, "human_budget", "valid integer"),
        ({"overlap_normal": "-1"}, "overlap", "non-negative integers"),
        ({"overlap_expert": "two"}, "overlap", "non-negative integers"),
    ],
)
def test_budget_errors_name_the_field_and_change_nothing(client, project, researcher, posted, field, words):
    from frontend.dashboard import FIELD_LABELS

    client.force_login(researcher)
    before = _settings(project)
    response = client.post(_url(project), {"overlap_normal": "2", "overlap_expert": "2", **posted})
    assert response.status_code == 400
    assert _settings(project) == before
    assert words in response.context["form"]["errors"][field]
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith(FIELD_LABELS[field]) and words in m for m in shown), shown
    page = response.content.decode()
    assert 'class="invalid"' in page
    if field != "overlap":  # what the researcher typed is still in the form
        assert f'value="{next(iter(posted.values()))}"' in page


def test_export_button_creates_a_job(
    client, filled, researcher, annotator, django_capture_on_commit_callbacks
):
    from annotation.datasets.tasks import EXPORT_JOB
    from annotation.models import Job

    url = _url(filled, "datasets/v1/export/")
    client.force_login(annotator)  # not a member of the project
    assert client.post(url, {"format": "all"}).status_code == 404
    client.force_login(researcher)
    assert client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, {"format": "csv"})
    assert response.status_code == 302 and response["Location"].endswith("#jobs")
    assert len(callbacks) == 1  # the Celery task is sent on commit, as the API does
    job = Job.objects.filter(kind=EXPORT_JOB).latest("id")
    assert job.created_by == researcher and job.status == Job.Status.PENDING
    assert job.params["version_name"] == "v1" and job.params["formats"] == ["csv"]
    with django_capture_on_commit_callbacks(execute=False):
        client.post(url, {"format": "all"})
    assert Job.objects.filter(kind=EXPORT_JOB).latest("id").params["formats"] == [
        "jsonl",
        "parquet",
        "csv",
        "hf",
    ]
    before = Job.objects.count()
    bad = client.post(url, {"format": "exe"}, follow=True)
    assert Job.objects.count() == before
    assert [str(m) for m in bad.context["messages"]][-1] == 'Export format: "exe" is not a valid choice.'
    assert client.post(_url(filled, "datasets/nope/export/")).status_code == 404
    page = client.get(_url(filled)).content.decode()
    assert f'data-job="{job.pk}"' in page


def test_home_links_the_dashboard_for_managed_projects_only(client, project, researcher, annotator):
    from annotation.models import ProjectMembership

    ProjectMembership.objects.create(project=project, user=annotator, role="annotator")
    client.force_login(researcher)
    assert f'href="/projects/{project.name}/"' in client.get("/").content.decode()
    client.force_login(annotator)
    assert f'href="/projects/{project.name}/"' not in client.get("/").content.decode()


def test_build_form_starts_a_build_job_from_the_latest_routing_run(
    client, filled, researcher, annotator, django_capture_on_commit_callbacks
):
    from annotation.datasets.tasks import BUILD_JOB, run_build_job
    from annotation.models import Job
    from routing.app.models import RoutingRun

    url = _url(filled, "datasets/build/")
    client.force_login(annotator)  # not a member of the project
    assert client.post(url, {"name": "x", "mode": "all_lm"}).status_code == 404
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, {"name": "hybrid-v2", "mode": "routing", "judge": "judge-x"})
    assert response.status_code == 302 and len(callbacks) == 1
    job = Job.objects.filter(kind=BUILD_JOB).latest("id")
    latest = RoutingRun.objects.filter(project=filled).latest("created_at")
    assert job.params["routing_run"] == latest.pk and job.params["name"] == "hybrid-v2"
    assert run_build_job(job.pk)["name"] == "hybrid-v2"
    for posted, words in (
        ({"name": "v1", "mode": "all_lm"}, "already exists"),
        ({"name": "", "mode": "all_lm"}, "name:"),
    ):
        before = Job.objects.count()
        shown = [str(m) for m in client.post(url, posted, follow=True).context["messages"]]
        assert any(words in m for m in shown), shown
        assert Job.objects.count() == before
