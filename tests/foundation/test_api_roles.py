"""Roles x endpoints: least privilege everywhere (docs/METHOD.md, Roles)."""

from __future__ import annotations

import io
import json

import pytest

from annotation.models import HumanLabel, Instance, Job, LMLabel, Project, ProjectMembership
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(project):
    instance = Instance.objects.create(
        project=project, external_id="i1", prompt="p", response_a="a", response_b="b"
    )
    HumanLabel.objects.create(instance=instance, annotator_ref="someone", preference=-1)
    LMLabel.objects.create(instance=instance, judge="judge", preference=1)
    return instance


@pytest.fixture
def member_annotator(project, annotator):
    ProjectMembership.objects.create(project=project, user=annotator, role="annotator")
    return annotator


def upload(client, project_name: str):
    data = io.BytesIO(json.dumps({"id": "x", "prompt": "p", "response_a": "a", "response_b": "b"}).encode())
    data.name = "x.jsonl"
    return client.post(f"/api/projects/{project_name}/imports/", {"file": data}, format="multipart")


def test_annotator_sees_only_member_projects(api_client, member_annotator, project):
    Project.objects.create(name="other")
    api_client.force_authenticate(member_annotator)
    names = [p["name"] for p in api_client.get("/api/projects/").json()["results"]]
    assert names == ["proj"]
    assert api_client.get("/api/projects/other/").status_code == 404
    outsider = make_user("outsider", "annotator")
    api_client.force_authenticate(outsider)
    assert api_client.get("/api/projects/").json()["results"] == []
    assert api_client.get("/api/projects/proj/").status_code == 404


def test_annotator_cannot_import_read_labels_or_instances(api_client, member_annotator, labelled):
    api_client.force_authenticate(member_annotator)
    assert upload(api_client, "proj").status_code == 403
    for url in ("labels/human/", "labels/lm/", "instances/", "members/"):
        assert api_client.get(f"/api/projects/proj/{url}").status_code == 403, url
    assert api_client.post("/api/projects/", {"name": "mine"}, format="json").status_code == 403
    assert api_client.patch("/api/projects/proj/", {"human_budget": 5}, format="json").status_code == 403
    assert Job.objects.count() == 0


def test_anonymous_gets_nothing(api_client, labelled):
    for url in (
        "/api/projects/",
        "/api/projects/proj/labels/human/",
        "/api/projects/proj/instances/",
        "/api/jobs/",
    ):
        assert api_client.get(url).status_code in (401, 403), url


def test_researcher_of_the_project_can_do_everything_on_it(api_client, researcher, labelled):
    api_client.force_authenticate(researcher)
    assert api_client.get("/api/projects/proj/labels/human/").json()["count"] == 1
    assert api_client.get("/api/projects/proj/labels/lm/").json()["results"][0]["judge"] == "judge"
    assert api_client.get("/api/projects/proj/instances/i1/").json()["prompt"] == "p"
    response = upload(api_client, "proj")
    assert response.status_code == 202
    from annotation.tasks import import_instances_task

    import_instances_task(response.json()["id"])  # what the worker runs
    assert Instance.objects.filter(external_id="x").exists()
    # ...but not on a project they are not a researcher of.
    Project.objects.create(name="foreign")
    assert upload(api_client, "foreign").status_code == 404


def test_researcher_creates_projects_with_validated_scheme(api_client, researcher):
    api_client.force_authenticate(researcher)
    bad = api_client.post("/api/projects/", {"name": "new", "scheme": {"kind": "nope"}}, format="json")
    assert bad.status_code == 400 and "scheme.kind" in json.dumps(bad.json())
    both = {"name": "new", "human_budget": 10, "human_budget_fraction": 0.5}
    assert api_client.post("/api/projects/", both, format="json").status_code == 400
    ok = api_client.post("/api/projects/", {"name": "new", "scheme": {"kind": "helpsteer2"}}, format="json")
    assert ok.status_code == 201, ok.json()
    assert ok.json()["scheme"]["attributes"][0] == "helpfulness"
    assert ProjectMembership.objects.get(project__name="new").user == researcher


def test_admin_sees_all_and_token_auth_works(api_client, admin_user, labelled):
    Project.objects.create(name="other")
    response = api_client.post("/api/auth/token/", {"username": "admin1", "password": "admin1-pass-1234"})
    token = response.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert {p["name"] for p in api_client.get("/api/projects/").json()["results"]} == {"proj", "other"}
    assert api_client.get("/api/projects/proj/labels/human/").status_code == 200


def test_openapi_schema_and_docs(api_client, researcher):
    api_client.force_authenticate(researcher)
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/projects/{project}/imports/" in schema.json()["paths"]
    assert api_client.get("/api/docs/").status_code == 200


def test_a_removed_creator_loses_access_and_their_jobs(api_client, researcher, labelled):
    """Issue 10, item 4: membership is the one source of access, not ``created_by``."""
    project = labelled.project
    assert project.created_by == researcher
    job = Job.objects.create(kind="import", project=project, created_by=researcher)
    ProjectMembership.objects.filter(project=project, user=researcher).delete()
    api_client.force_authenticate(researcher)
    assert api_client.get("/api/projects/proj/").status_code == 404
    assert api_client.get("/api/projects/proj/labels/human/").status_code == 404
    assert api_client.get(f"/api/jobs/{job.pk}/").status_code == 404
    assert job.pk not in [row["id"] for row in api_client.get("/api/jobs/").json()["results"]]
    again = api_client.post(
        "/api/projects/proj/members/", {"username": researcher.username, "role": "researcher"}, format="json"
    )
    assert again.status_code == 404
    assert not ProjectMembership.objects.filter(project=project, user=researcher).exists()


def test_jobs_are_visible_to_the_projects_current_researchers(api_client, researcher, labelled):
    job = Job.objects.create(kind="import", project=labelled.project, created_by=researcher)
    colleague = make_user("colleague", "researcher")
    ProjectMembership.objects.create(project=labelled.project, user=colleague, role="researcher")
    api_client.force_authenticate(colleague)
    assert api_client.get(f"/api/jobs/{job.pk}/").status_code == 200
