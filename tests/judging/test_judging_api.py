"""The judging API: researchers start judge/tag jobs and read the report; nobody else sees LM judging."""

from __future__ import annotations

import pytest

from annotation.judging.models import LMEndpoint
from annotation.models import Instance, Job, LMLabel, ProjectMembership

pytestmark = pytest.mark.django_db

CONFIG = {"endpoint": "lab"}
URLS = ("judge-report/", "judge-jobs/", "tag-jobs/")


@pytest.fixture
def labelled(project):
    instance = Instance.objects.create(
        project=project, external_id="i1", prompt="p", response_a="a", response_b="b"
    )
    LMLabel.objects.create(instance=instance, judge="judge-model", preference=1)
    return project


def test_annotators_and_anonymous_get_403(api_client, labelled, annotator):
    for url in URLS:
        assert api_client.get(f"/api/projects/proj/{url}").status_code in (401, 403), url
    ProjectMembership.objects.create(project=labelled, user=annotator, role="annotator")
    api_client.force_authenticate(annotator)
    assert api_client.get("/api/projects/proj/judge-report/").status_code == 403
    for url in URLS[1:]:
        assert (
            api_client.post(f"/api/projects/proj/{url}", {"config": CONFIG}, format="json").status_code == 403
        )
    assert Job.objects.count() == 0


def test_researcher_reads_the_report(api_client, labelled, researcher):
    api_client.force_authenticate(researcher)
    response = api_client.get("/api/projects/proj/judge-report/")
    assert response.status_code == 200
    assert "judge-model" in str(response.json())


def test_researcher_starts_jobs_and_bad_requests_name_the_field(api_client, labelled, researcher):
    LMEndpoint.objects.create(
        name="lab", backend="openai", base_url="http://127.0.0.1:9/v1", model="judge-model"
    )
    api_client.force_authenticate(researcher)
    missing = api_client.post("/api/projects/proj/judge-jobs/", {}, format="json")
    assert missing.status_code == 400 and "endpoint" in missing.json()
    bad = api_client.post("/api/projects/proj/judge-jobs/", {"config": {"backend": "nope"}}, format="json")
    assert bad.status_code == 400 and "config" in bad.json()
    for url, kind in (("judge-jobs/", "judge"), ("tag-jobs/", "tag")):
        response = api_client.post(
            f"/api/projects/proj/{url}", {"endpoint": "lab", "limit": 5}, format="json"
        )
        assert response.status_code == 202, response.content
        job = Job.objects.get(pk=response.json()["job"])
        assert job.params == {"endpoint": "lab", "options": {}, "limit": 5} and kind in job.kind
