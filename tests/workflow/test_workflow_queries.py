"""Next-task and submit stay cheap: a bounded number of queries per request (session sign-in included), and
on PostgreSQL the candidate query reads labels and assignments through indexes only."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.workflow import assignment as tasks
from annotation.workflow.access import annotating
from annotation.workflow.queue import instances_for_people
from tests.workflow.conftest import MP_ANSWER, make_instances, qualified_annotator, queue_all

NEXT_TASK_QUERIES = 8
SUBMIT_QUERIES = 8


def _signed_in(person):
    """A session-authenticated API client, as the browser is: the session and user reads are counted."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(person)
    return client


def _next(client, project):
    return client.post(f"/api/projects/{project.name}/tasks/next/", format="json")


def _submit(client, project, task):
    body = {"answer": MP_ANSWER, "lease_token": task["lease_token"]}
    return client.post(f"/api/projects/{project.name}/tasks/{task['id']}/submit/", body, format="json")


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@contextmanager
def at_most(limit: int):
    """Fail when the block ran more than ``limit`` SQL statements, not counting transaction control (SQLite
    logs its BEGIN IMMEDIATE / COMMIT as statements, PostgreSQL's driver does not: the same work either way)."""
    with CaptureQueriesContext(connection) as captured:
        yield
    statements = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    listing = "\n".join(sql[:160] for sql in statements)
    assert len(statements) <= limit, f"{len(statements)} statements, at most {limit} allowed:\n{listing}"


# transaction=True: no test transaction around the request, so no SAVEPOINT statements are counted that
# production would not run either.
@pytest.mark.django_db(transaction=True)
def test_next_task_and_submit_take_a_handful_of_queries(mp_project):
    person = qualified_annotator(mp_project, "counted")
    client = _signed_in(person)
    warm = _next(client, mp_project).json()["task"]  # the first request builds the quota rows
    assert _submit(client, mp_project, warm).status_code == 201

    with at_most(NEXT_TASK_QUERIES):
        reply = _next(client, mp_project)
    task = reply.json()["task"]
    assert task is not None
    with at_most(NEXT_TASK_QUERIES):  # a reload resumes the held lease
        assert _next(client, mp_project).json()["task"]["id"] == task["id"]
    with at_most(SUBMIT_QUERIES):
        assert _submit(client, mp_project, task).status_code == 201
    with at_most(SUBMIT_QUERIES):  # a refused stale submit is as cheap
        assert _submit(client, mp_project, task).status_code == 409


@pytest.mark.postgres
@pytest.mark.django_db
def test_candidate_query_reads_labels_and_assignments_by_index(researcher):
    """With 40,000 labels and 12,000 assignments (and statistics gathered), the planner reaches
    ``annotation_humanlabel`` and ``workflow_assignment`` through indexes only. PostgreSQL is free to scan
    small tables; these are large enough that a sequential scan would be its own choice, not a necessity."""
    if connection.vendor != "postgresql":
        pytest.skip("the EXPLAIN test needs PostgreSQL: run it with DATABASE_URL=postgres://...")
    from annotation.core.schemes import default_scheme_config
    from annotation.models import Project

    project = Project.objects.create(
        name="big", scheme=default_scheme_config("multipref"), overlap={"normal": 4}, created_by=researcher
    )
    make_instances(project, 3000)
    queue_all(project)
    people = [qualified_annotator(project, f"p{k}") for k in range(4)]
    _fill(project, people)
    ctx = annotating(people[0], project)
    source = instances_for_people(project, ctx.latest_run)
    query = tasks._with_previous(tasks.candidates(ctx, source), ctx.user).select_related("instance")
    sql, params = query[:1].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    print(plan)  # shown with -s: what the planner chose
    for table in ("annotation_humanlabel", "workflow_assignment"):
        assert f"Seq Scan on {table}" not in plan, plan
    assert tasks.next_task(people[0], project).assignment is not None


def _fill(project, people) -> None:
    """Imported labels (10 voters on 3,000 instances + 10,000 more) and 4 people's assignments, in SQL."""
    user_ids = [p.pk for p in people]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotation_humanlabel (instance_id, annotator_ref, source, neither_valid, aspects,
                ratings, answers, shown_swapped, flagged_fast, is_gold, created_at, preference)
            SELECT i.id, 'imported:' || v, 'imported', false, '{}', '{}', '{}', false, false, false, now(), 1
            FROM annotation_instance i CROSS JOIN generate_series(1, 13) v
            WHERE i.project_id = %s AND (v <= 10 OR i.id %% 3 = 0)
            """,
            [project.pk],
        )
        cursor.execute(
            """
            INSERT INTO workflow_assignment (instance_id, user_id, tier, status, shown_swapped, why, created_at,
                served_at, expires_at, skip_reason, lease_token)
            SELECT i.id, u, 'normal', 'submitted', false, '[]', now(), now(), now(), '', ''
            FROM annotation_instance i CROSS JOIN unnest(%s::bigint[]) u
            WHERE i.project_id = %s AND i.id %% 4 <> 0
            """,
            [user_ids, project.pk],
        )
    from annotation.workflow.quota import ensure_quota_rows

    ensure_quota_rows(project, project.instances.values_list("pk", flat=True))
