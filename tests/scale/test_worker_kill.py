"""Scale-out: two real Celery workers share the tags queue; the one running a tags job is killed (SIGKILL)
in the middle, and the other finishes the job with every tag value stored exactly once.

What makes it work: tasks acknowledge late (a killed worker never acknowledged its task), Redis hands an
unacknowledged task to another worker after the visibility timeout (set to a few seconds here through
CELERY_VISIBILITY_TIMEOUT), and the tags job commits one chunk at a time and, when re-run, tags only the
instances still missing values.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
N_INSTANCES, CHUNK = 32, 4
# Longer than a worker (models loaded as it starts) needs to commit its first chunk on a busy 2-core machine,
# so that the task is handed out again only after the kill.
VISIBILITY_S = 10


def _worker_env() -> dict[str, str]:
    """This run's database, broker and cache; a short visibility timeout, a sweep every second, models
    loaded as the worker starts."""
    conf = connection.settings_dict
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"postgres://{conf['USER']}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}",
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
        "CELERY_RESTORE_INTERVAL": "1",
        "CELERY_PRELOAD_TAG_MODELS": "1",
    }


def _start_worker(log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "manage.py", "run_worker", "--queues=tags", "--pool=solo", "--loglevel=info"]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=_worker_env(), stdout=out, stderr=subprocess.STDOUT)


def _wait(what: str, predicate, timeout: float, workers: dict[str, tuple[subprocess.Popen, Path]]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    logs = {name: log.read_text()[-2000:] for name, (_, log) in workers.items()}
    pytest.fail(
        f"timed out after {timeout:.0f} s waiting for {what}; worker logs: {json.dumps(logs, indent=1)}"
    )


def _received(log: Path, task_id: str) -> bool:
    return bool(re.search(rf"\[{re.escape(task_id)}\] received", log.read_text()))


def _project_with_real_pairs(researcher, pandalm_path: Path):
    from annotation.models import Instance, Project

    project = Project.objects.create(name="scale-kill", created_by=researcher)
    rows = [json.loads(line) for line in pandalm_path.read_text().splitlines()[:N_INSTANCES]]
    Instance.objects.bulk_create(
        Instance(
            project=project,
            external_id=r["id"],
            prompt=r["prompt"],
            response_a=r["response_a"],
            response_b=r["response_b"],
        )
        for r in rows
    )
    return project


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_tags_job_survives_the_kill_of_its_worker(researcher, pandalm_path, tmp_path):
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip(
            "the worker-kill test needs PostgreSQL and CELERY_BROKER_URL=redis://... (scripts/test.sh)"
        )
    from annotation.models import Job
    from routing.app.models import TagValue
    from routing.app.tasks import TAGS_JOB, compute_tags_task
    from routing.textual import TAG_NAMES

    project = _project_with_real_pairs(researcher, pandalm_path)
    workers = {name: (_start_worker(tmp_path / f"{name}.log"), tmp_path / f"{name}.log") for name in "AB"}
    try:
        for name, (_, log) in workers.items():
            _wait(f"worker {name} to be ready", lambda log=log: " ready." in log.read_text(), 300, workers)
        job = Job.objects.create(kind=TAGS_JOB, project=project, params={"chunk_size": CHUNK})
        job.enqueue(compute_tags_task)  # sent at once: no transaction is open
        task_id = _wait("the task id", lambda: Job.objects.get(pk=job.pk).celery_task_id, 30, workers)
        holder = _wait(
            "a worker to take the task",
            lambda: next((n for n, (_, log) in workers.items() if _received(log, task_id)), None),
            60,
            workers,
        )
        other = "B" if holder == "A" else "A"
        stored = TagValue.objects.filter(instance__project=project)
        _wait("the first committed chunk", lambda: stored.count() >= 9 * CHUNK, 90, workers)
        process = workers[holder][0]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        done_at_kill = stored.count()
        assert done_at_kill % len(TAG_NAMES) == 0  # whole chunks only: a chunk commits at once
        assert done_at_kill < 9 * N_INSTANCES, "the job finished before the kill; use more instances"
        assert not _received(workers[other][1], task_id), "handed out twice before the kill"

        _wait("the other worker to take the task", lambda: _received(workers[other][1], task_id), 90, workers)
        _wait(
            "the job to succeed",
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED,
            120,
            workers,
        )
    finally:
        for process, _ in workers.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()

    job.refresh_from_db()
    assert re.search(rf"\[{re.escape(task_id)}\] succeeded", workers[other][1].read_text())
    # Nothing lost, nothing twice, and the resumed run tagged only what the killed worker had not committed.
    assert stored.count() == len(TAG_NAMES) * N_INSTANCES
    assert stored.values("instance_id", "tag").distinct().count() == stored.count()
    assert job.result["computed"] == N_INSTANCES - done_at_kill // len(TAG_NAMES)
    per_instance = set(stored.values_list("instance_id", flat=True).order_by().distinct())
    assert len(per_instance) == N_INSTANCES
