"""The workflow progress page and endpoint run as many queries at 400 instances as at 40: totals from the
maintained counters, one bounded page of instances; the endpoint's page size is bounded and its errors name
the parameter."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.scale.sized_projects import LARGE_TABLES, fill, page_statements, sized_project
from tests.workflow.conftest import qualified_annotator

PROGRESS_QUERIES = 16


@pytest.mark.django_db
def test_progress_page_and_endpoint_queries_do_not_grow_with_instances(
    client, researcher, django_assert_max_num_queries
):
    client.force_login(researcher)
    counted = {}
    for n in (40, 400):
        project = sized_project(researcher, f"paged-{n}")
        fill(project, n, [qualified_annotator(project, f"q{n}-{k}") for k in range(2)])
        api = f"/api/projects/{project.name}/progress/"
        client.get(api)  # sessions and caches warm
        with django_assert_max_num_queries(PROGRESS_QUERIES):
            page = page_statements(client, f"/annotate/{project.name}/progress/")
        with django_assert_max_num_queries(PROGRESS_QUERIES):
            endpoint = page_statements(client, api)
        counted[n] = (len(page), len(endpoint))
        body = client.get(api).json()
        assert body["routed"] == n // 2 and body["complete"] == n // 4 and body["done"] == 2 * (n // 4)
        assert body["needed"] == 2 * (n // 2) and body["counting"] is False
        assert len(body["instances"]) == min(100, n // 2) and body["limit"] == 100
        assert body["next_offset"] == (100 if n // 2 > 100 else None)
        assert [r["done_normal"] for r in body["instances"][:2]] == [2, 2]
    assert counted[40] == counted[400], counted
    last = client.get(f"{api}?offset=150&limit=500").json()
    assert len(last["instances"]) == 50 and last["next_offset"] is None
    assert last["instances"][-1]["done_normal"] == 0
    too_many = client.get(f"{api}?limit=501")
    assert too_many.status_code == 400 and "limit must be between 1 and 500" in too_many.content.decode()
    assert client.get(f"{api}?offset=many").status_code == 400


@pytest.mark.postgres
@pytest.mark.django_db
def test_progress_endpoint_reads_assignments_and_decisions_by_index(client, researcher):
    """With 3,000 instances and gathered statistics, no query of the progress endpoint's totals and page
    scans assignments or routing decisions sequentially (the annotator table is left out: it groups the
    project's finished assignments per person)."""
    if connection.vendor != "postgresql":
        pytest.skip("the EXPLAIN test needs PostgreSQL: run it with DATABASE_URL=postgres://...")
    project = sized_project(researcher, "paged-explained")
    fill(project, 3000, [qualified_annotator(project, f"x{k}") for k in range(2)])
    client.force_login(researcher)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    statements = page_statements(client, f"/api/projects/{project.name}/progress/?offset=1000")
    for statement in statements:
        if not statement.lstrip().upper().startswith("SELECT") or "auth_user" in statement:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + statement)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        for table in LARGE_TABLES:
            assert f"Seq Scan on {table}" not in plan, f"{statement[:200]}\n{plan}"
