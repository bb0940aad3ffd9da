"""The datasets API: researchers of the project and admins only; annotators and anonymous users get 403."""

from __future__ import annotations

import io
import zipfile

import pytest

from annotation.datasets.tasks import run_build_job, run_export_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(project, annotator):
    """A small project with 3 human votes and an LM label per instance; the annotator is a member."""
    from annotation.models import HumanLabel, Instance, LMLabel, ProjectMembership

    ProjectMembership.objects.create(project=project, user=annotator, role="annotator")
    for i in range(12):
        instance = Instance.objects.create(
            project=project, external_id=f"i{i}", prompt=f"p{i}", response_a=f"a{i}", response_b=f"b{i}"
        )
        for j, pref in enumerate([(-1) ** i, (-1) ** i, 0 if i % 3 else -((-1) ** i)]):
            HumanLabel.objects.create(
                instance=instance, annotator_ref=f"h{j}", preference=pref, shown_swapped=j == 1
            )
        LMLabel.objects.create(instance=instance, judge="judge-x", prompt_version="v1", preference=1)
    return project


def _version(project):
    from annotation.datasets.services import build_dataset_version

    return build_dataset_version(
        project, "v1", human_instance_ids=list(project.instances.values_list("pk", flat=True)[:6])
    )


def _urls(project, version="v1", job_id=1):
    base = f"/api/projects/{project.name}"
    return [
        ("get", f"{base}/datasets/"),
        ("post", f"{base}/datasets/"),
        ("get", f"{base}/datasets/{version}/"),
        ("post", f"{base}/datasets/{version}/exports/"),
        ("get", f"{base}/exports/{job_id}/"),
        ("get", f"{base}/exports/{job_id}/download/"),
        ("get", f"{base}/agreement/"),
    ]


def test_annotators_and_anonymous_get_403_everywhere(
    labelled, annotator, api_client, django_capture_on_commit_callbacks
):
    from annotation.models import Job

    version = _version(labelled)
    job = Job.objects.create(kind="export_dataset", project=labelled, params={"version": version.pk})
    for method, url in _urls(labelled, job_id=job.pk):
        api_client.force_authenticate(None)
        assert getattr(api_client, method)(url, {}, format="json").status_code == 403, (method, url)
        api_client.force_authenticate(annotator)
        assert getattr(api_client, method)(url, {}, format="json").status_code == 403, (method, url)


def test_other_researcher_gets_the_404_of_an_unknown_project(labelled, api_client):
    """Outside the project, its name answers as if it did not exist (issue 10, item 8)."""
    from tests.conftest import make_user

    other = make_user("researcher2", "researcher")
    api_client.force_authenticate(other)
    for method, url in _urls(labelled):
        assert getattr(api_client, method)(url, {}, format="json").status_code == 404, (method, url)


def test_unknown_project_is_404_for_a_researcher(researcher, api_client):
    api_client.force_authenticate(researcher)
    assert api_client.get("/api/projects/nope/datasets/").status_code == 404


def test_researcher_creates_exports_and_downloads(
    labelled, researcher, api_client, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(researcher)
    ids = list(labelled.instances.values_list("pk", flat=True)[:6])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        started = api_client.post(
            f"/api/projects/{labelled.name}/datasets/",
            {"name": "v1", "mode": "routing", "human_instance_ids": ids, "judge": "judge-x"},
            format="json",
        )
    assert started.status_code == 202, started.content
    assert len(callbacks) == 1  # the build runs in a Celery task, queued on commit
    build_job = started.json()["job_id"]
    run_build_job(build_job)  # what the worker runs
    run_build_job(build_job)  # a re-delivered task changes nothing
    job = api_client.get(f"/api/jobs/{build_job}/").json()
    assert job["status"] == "succeeded" and job["result"]["name"] == "v1"
    assert job["result"]["counts"]["human"] == 6 and job["result"]["counts"]["lm"] == 6
    failing = api_client.post(
        f"/api/projects/{labelled.name}/datasets/",
        {"name": "v2", "mode": "all_lm", "judge": "nope"},
        format="json",
    )
    run_build_job(failing.json()["job_id"])
    job = api_client.get(f"/api/jobs/{failing.json()['job_id']}/").json()
    assert job["status"] == "failed" and "judge" in job["error"]
    again = api_client.post(
        f"/api/projects/{labelled.name}/datasets/", {"name": "v1", "mode": "all_lm"}, format="json"
    )
    assert again.status_code == 400 and "already has" in again.json()["detail"]
    listed = api_client.get(f"/api/projects/{labelled.name}/datasets/")
    assert [v["name"] for v in listed.json()["results"]] == ["v1"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        started = api_client.post(
            f"/api/projects/{labelled.name}/datasets/v1/exports/",
            {"formats": ["jsonl", "csv"]},
            format="json",
        )
    assert started.status_code == 202
    assert len(callbacks) == 1  # the Celery task is queued on commit
    job_id = started.json()["job_id"]
    pending = api_client.get(f"/api/projects/{labelled.name}/exports/{job_id}/download/")
    assert pending.status_code == 409
    run_export_job(job_id)  # what the worker runs
    status = api_client.get(f"/api/projects/{labelled.name}/exports/{job_id}/").json()
    assert status["status"] == "succeeded"
    assert status["download_url"] == f"/api/projects/{labelled.name}/exports/{job_id}/download/"
    download = api_client.get(status["download_url"])
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = {n.split("/", 1)[1] for n in archive.namelist()}
    assert {
        "pairwise.jsonl",
        "pairwise.csv",
        "full.jsonl",
        "full.csv",
        "dataset_card.md",
        "dataset_card.json",
    } == names
    one = api_client.get(status["download_url"] + "?file=pairwise.jsonl")
    assert one.status_code == 200
    first = b"".join(one.streaming_content).decode().splitlines()[0]
    assert '"source": ' in first and '"aggregation_method": ' in first
    assert api_client.get(status["download_url"] + "?file=../../etc/passwd").status_code == 404
    report = api_client.get(f"/api/projects/{labelled.name}/agreement/")
    assert report.status_code == 200 and report.json()["annotators"] == 3


def test_admin_may_export_any_project(labelled, admin_user, api_client):
    _version(labelled)
    api_client.force_authenticate(admin_user)
    assert api_client.get(f"/api/projects/{labelled.name}/datasets/").status_code == 200
    assert api_client.get(f"/api/projects/{labelled.name}/datasets/v1/").json()["counts"]["rows"] == 12
