"""Concurrent leasing on PostgreSQL: 50 annotators (threads) against 200 instances with a quota of 4.

Each thread has its own database connection and goes through the real API (next task, submit) until
nothing is left. Afterwards every instance has exactly 4 distinct annotators and every accepted submission
is stored.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from tests.workflow.conftest import MP_ANSWER, make_instances, qualified_annotator, queue_all

N_ANNOTATORS, N_INSTANCES, QUOTA = 50, 200, 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_annotators_two_hundred_instances_quota_four(researcher):
    if connection.vendor != "postgresql":
        pytest.skip("the concurrency test needs PostgreSQL (SQLite serialises writers with its lock)")
    from rest_framework.test import APIClient

    from annotation.core.schemes import default_scheme_config
    from annotation.models import HumanLabel, Project
    from annotation.workflow.models import Assignment
    from annotation.workflow.settings_store import settings_for

    project = Project.objects.create(
        name="load",
        scheme=default_scheme_config("multipref"),
        overlap={"normal": QUOTA},
        created_by=researcher,
    )
    make_instances(project, N_INSTANCES)
    queue_all(project)
    conf = settings_for(project)
    conf.gold_rate, conf.min_seconds = 0.0, 0
    conf.save()
    people = [qualified_annotator(project, f"load{k}") for k in range(N_ANNOTATORS)]

    accepted: list[tuple[int, str]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(N_ANNOTATORS)

    def work(user) -> None:
        client = APIClient()
        client.force_authenticate(user)
        try:
            start.wait()
            while True:
                reply = client.post(f"/api/projects/{project.name}/tasks/next/", format="json")
                if reply.status_code != 200:
                    errors.append(f"next {reply.status_code}: {reply.content[:200]!r}")
                    return
                body = reply.json()
                if body["task"] is None:
                    if body["retry"]:
                        continue
                    return
                task = body["task"]
                done = client.post(
                    f"/api/projects/{project.name}/tasks/{task['id']}/submit/",
                    {"answer": MP_ANSWER, "lease_token": task["lease_token"]},
                    format="json",
                )
                if done.status_code != 201:
                    errors.append(f"submit {done.status_code}: {done.content[:200]!r}")
                    return
                with lock:
                    accepted.append((user.pk, task["instance"]))
        except Exception as error:  # noqa: BLE001 - report from the thread
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "threads still running"
    assert errors == []

    assert len(accepted) == N_INSTANCES * QUOTA
    assert len(set(accepted)) == len(accepted)  # never twice to one person
    per_instance = Counter(instance for _, instance in accepted)
    assert set(per_instance.values()) == {QUOTA}
    labels = HumanLabel.objects.filter(instance__project=project)
    assert labels.count() == len(accepted)  # no submission lost
    stored = Counter(labels.values_list("instance__external_id", flat=True))
    assert stored == per_instance
    for instance_id, refs in _refs_by_instance(labels).items():
        assert len(refs) == QUOTA == len(set(refs)), instance_id
    assert not Assignment.objects.filter(instance__project=project, status="active").exists()
    # display order stays balanced per instance (2 shown as stored, 2 swapped)
    swapped = Counter(labels.filter(shown_swapped=True).values_list("instance_id", flat=True))
    assert set(swapped.values()) == {QUOTA // 2}
    # the progress counters, updated by concurrent submits on 16 shards, are exact
    from annotation.workflow.progress import totals

    assert totals(project, "queue") == {
        "instances": N_INSTANCES,
        "complete": N_INSTANCES,
        "normal": N_INSTANCES * QUOTA,
        "expert": 0,
    }


def _refs_by_instance(labels) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for instance_id, ref in labels.values_list("instance_id", "annotator_ref"):
        out.setdefault(instance_id, []).append(ref)
    return out
