"""The project's ``platform`` package must not break the standard-library ``platform`` module, in the test
process, the web process and a Celery worker process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {"system": __import__("platform").system(), "python": __import__("platform").python_version()}


def test_in_the_test_process():
    import platform

    assert platform.system() == "Linux" and platform.python_version().count(".") == 2
    import platform.settings  # the project package is importable next to it

    assert platform.settings.DEBUG is False


def test_torch_and_celery_import_alongside():
    code = "import torch, celery, platform_compat, platform, platform.settings; print(platform.system())"
    env = {**os.environ, "HYBRIDPREF_ENV": "test"}
    for cwd in (ROOT, ROOT.parent):  # project root first on sys.path, and not at all
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == EXPECTED["system"]


def _subprocess_env() -> dict[str, str]:
    """Environment for a child process that uses this test run's database."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{settings_dict['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
        )
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_in_the_web_process():
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT,
        env=_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.25)
        assert body is not None, server.stdout.read1().decode() if server.poll() is not None else "no answer"
        assert body == {"status": "ok"}  # the OS and Python version are not shown (issue 10, item 8)
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def worker():
    """A real Celery worker process on this run's broker and database."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--pool=solo", "--loglevel=warning"],
        cwd=ROOT,
        env=_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(predicate, timeout: float, process: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"worker exited: {process.stdout.read().decode()}")
        time.sleep(0.2)
    pytest.fail("timed out waiting for the worker")


@pytest.mark.django_db(transaction=True)
def test_in_a_worker_process_and_worker_completes_an_upload_import(
    worker, researcher, project, api_client, tmp_path
):
    from annotation.models import Instance, Job
    from annotation.tasks import report_platform

    key = f"platform-{uuid.uuid4().hex}"
    report_platform.delay(key)
    info = wait_for(lambda: cache.get(key), 90, worker)
    assert info["system"] == EXPECTED["system"] and info["python"] == EXPECTED["python"]

    upload = tmp_path / "upload.jsonl"
    upload.write_text(
        "".join(
            json.dumps({"id": f"u{i}", "prompt": "p", "response_a": "a", "response_b": "b"}) + "\n"
            for i in range(30)
        )
    )
    api_client.force_authenticate(researcher)
    with upload.open("rb") as fh:
        response = api_client.post(f"/api/projects/{project.name}/imports/", {"file": fh}, format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    wait_for(lambda: Job.objects.get(pk=job_id).status == Job.Status.SUCCEEDED, 90, worker)
    assert Instance.objects.filter(project=project).count() == 30
    job = api_client.get(f"/api/jobs/{job_id}/").json()
    assert job["result"]["created"] == 30 and job["progress"]["done"] == job["progress"]["total"]
