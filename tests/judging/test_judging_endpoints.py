"""LM endpoints are chosen by name (issue 10, item 1): no API request can make the worker read an environment
variable other than the endpoint's, or connect to a host an admin did not configure.

The worker runs in this process (``run_job``), exactly the task body; the "attacker" is a plain TCP listener
that counts every connection it is offered, and the admin's endpoint is the stub OpenAI server.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.judging.endpoints import job_config
from annotation.judging.models import LMEndpoint
from annotation.judging.tasks import run_job
from annotation.models import Instance, Job, ProjectMembership
from models.lm.stub_server import StubOpenAIServer, always

pytestmark = pytest.mark.django_db

KEY_VARIABLE = "HYBRIDPREF_LM_KEY_TEST"


class Listener:
    """Counts TCP connections to 127.0.0.1:<port>; any connection at all means a request reached it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener():
    opened = Listener()
    yield opened
    opened.close()


@pytest.fixture
def admin_server(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "the-admins-key")
    with StubOpenAIServer(always("1")) as server:
        yield server


@pytest.fixture
def endpoint(admin_server):
    row = LMEndpoint(
        name="lab-judge",
        backend="openai",
        base_url=admin_server.base_url,
        model="judge-model",
        api_key_setting=KEY_VARIABLE,
        max_tokens=16,
        timeout=5,
    )
    row.full_clean()
    row.save()
    return row


@pytest.fixture
def judged_project(project):
    Instance.objects.create(project=project, external_id="i1", prompt="p", response_a="a", response_b="b")
    return project


def _attacks(url: str) -> list[tuple[dict, str]]:
    """(request body, the field the 400 must name) for every way a body could name a URL, variable or path."""
    free = {"backend": "openai", "model": "m", "base_url": url, "api_key_env": "DATABASE_URL"}
    return [
        ({"config": free}, "config"),
        ({"config": {"backend": "local", "model": "/etc/passwd", "cache_dir": "/tmp"}}, "config"),
        ({"endpoint": "lab-judge", "base_url": url}, "base_url"),
        ({"endpoint": "lab-judge", "api_key_env": "SECRET_KEY"}, "api_key_env"),
        ({"endpoint": "lab-judge", "model": "/etc/passwd"}, "model"),
        ({"endpoint": "lab-judge", "cache_dir": "/root"}, "cache_dir"),
        ({"endpoint": "lab-judge", "backend": "local"}, "backend"),
        ({"endpoint": url}, "endpoint"),
        ({"endpoint": "lab-judge", "max_tokens": 17}, "max_tokens"),
        ({"endpoint": "lab-judge", "prompt": url}, "prompt"),
    ]


def test_no_request_names_a_url_variable_or_path(api_client, researcher, judged_project, endpoint, listener):
    api_client.force_authenticate(researcher)
    for url in ("judge-jobs/", "tag-jobs/"):
        for body, field in _attacks(listener.url):
            response = api_client.post(f"/api/projects/proj/{url}", body, format="json")
            assert response.status_code == 400, (url, body, response.content)
            assert field in response.json(), (url, body, response.json())
    assert Job.objects.count() == 0
    assert listener.connections == 0


def test_the_worker_uses_only_the_admins_endpoint_and_key(
    api_client, researcher, judged_project, endpoint, admin_server, listener
):
    api_client.force_authenticate(researcher)
    response = api_client.post(
        "/api/projects/proj/judge-jobs/",
        {"endpoint": "lab-judge", "temperature": 0.0, "max_tokens": 8, "limit": 1},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    assert set(job.params) == {"endpoint", "options", "limit"}
    assert job.params["options"] == {"temperature": 0.0, "max_tokens": 8}
    config = job_config(job.params)
    # The only environment variable the backend is told to read is the admin's.
    assert config["api_key_env"] == KEY_VARIABLE and config["base_url"] == admin_server.base_url
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert len(admin_server.requests) == 2  # both orders of the one instance
    assert {r["auth"] for r in admin_server.requests} == {"Bearer the-admins-key"}
    secrets = [os.environ.get(name) for name in ("DATABASE_URL", "SECRET_KEY", "CELERY_BROKER_URL")]
    seen = str(admin_server.requests)
    assert not [value for value in secrets if value and value in seen]
    assert listener.connections == 0


def test_an_endpoint_disabled_after_the_request_fails_the_job_by_name(
    api_client, researcher, judged_project, endpoint, admin_server
):
    api_client.force_authenticate(researcher)
    response = api_client.post("/api/projects/proj/tag-jobs/", {"endpoint": "lab-judge"}, format="json")
    assert response.status_code == 202, response.content
    LMEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    with pytest.raises(Exception, match="no enabled LM endpoint named 'lab-judge'"):
        run_job(response.json()["job"])
    assert admin_server.requests == []


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        (
            {"backend": "openai", "base_url": "http://x/v1", "model": "m", "api_key_setting": "DATABASE_URL"},
            "api_key_setting",
        ),
        (
            {"backend": "openai", "base_url": "http://x/v1", "model": "m", "api_key_setting": "SECRET_KEY"},
            "api_key_setting",
        ),
        ({"backend": "openai", "model": "m"}, "base_url"),
        ({"backend": "local", "model": "/etc/passwd"}, "model"),
        ({"backend": "local", "base_url": "http://x/v1"}, "base_url"),
        ({"backend": "vllm"}, "model"),
    ],
)
def test_even_an_admin_cannot_point_a_key_at_other_variables(db, fields, bad):
    with pytest.raises(ValidationError) as raised:
        LMEndpoint(name="e", **fields).full_clean()
    assert bad in raised.value.message_dict


def test_researchers_list_endpoints_without_secrets(api_client, researcher, annotator, endpoint, project):
    api_client.force_authenticate(researcher)
    response = api_client.get("/api/lm-endpoints/")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["name"] == "lab-judge" and row["model"] == "judge-model"
    assert (
        endpoint.base_url not in response.content.decode() and KEY_VARIABLE not in response.content.decode()
    )
    ProjectMembership.objects.create(project=project, user=annotator, role="annotator")
    api_client.force_authenticate(annotator)
    assert api_client.get("/api/lm-endpoints/").status_code == 403


def test_operators_judge_with_an_endpoint_by_name(judged_project, endpoint, admin_server):
    call_command("judge", "proj", "--endpoint", "lab-judge", "--limit", "1")
    assert len(admin_server.requests) == 2
    job = Job.objects.get(kind="judge")
    assert job.params["endpoint"] == "lab-judge" and "config" not in job.params
    with pytest.raises(CommandError, match="--base-url"):
        call_command("judge", "proj", "--endpoint", "lab-judge", "--base-url", "http://127.0.0.1:9/v1")
    with pytest.raises(CommandError, match="no enabled LM endpoint named 'nope'"):
        call_command("judge", "proj", "--endpoint", "nope")


def test_admins_manage_endpoints_in_django_admin(client, admin_user, endpoint):
    client.force_login(admin_user)
    listing = client.get("/admin/judging/lmendpoint/")
    assert listing.status_code == 200 and "lab-judge" in listing.content.decode()
    refused = client.post(
        "/admin/judging/lmendpoint/add/",
        {
            "name": "leak",
            "backend": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "api_key_setting": "DATABASE_URL",
            "max_concurrency": 8,
            "timeout": 60,
            "max_tokens": 16,
        },
    )
    assert refused.status_code == 200 and "HYBRIDPREF_LM_KEY_" in refused.content.decode()
    assert not LMEndpoint.objects.filter(name="leak").exists()
