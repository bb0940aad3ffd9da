"""Large projects stay fast: the dashboard and the progress page run as many queries at 400 instances as at
40, their counts come from maintained counts that the triggers keep exact (and ``recount_projects``
repairs), and on PostgreSQL no query of the dashboard reads the label or tag tables sequentially."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from tests.scale.sized_projects import LARGE_TABLES, fill, page_statements, sized_project
from tests.workflow.conftest import make_instances, qualified_annotator

DASHBOARD_QUERIES = 30
RESULTS_QUERIES = 20


# The tables the dashboard's counts must not read row by row (the progress totals are the workflow's
# maintained counters, so neither assignments nor routing decisions are read either).
@pytest.mark.django_db
def test_dashboard_and_progress_queries_do_not_grow_with_instances(
    client, researcher, django_assert_max_num_queries
):
    client.force_login(researcher)
    counted = {}
    for n in (40, 400):
        project = sized_project(researcher, f"sized-{n}")
        fill(project, n, [qualified_annotator(project, f"p{n}-{k}") for k in range(2)])
        client.get(f"/projects/{project.name}/")  # sessions and caches warm
        with django_assert_max_num_queries(DASHBOARD_QUERIES):
            dashboard = page_statements(client, f"/projects/{project.name}/")
        with django_assert_max_num_queries(RESULTS_QUERIES):
            results = page_statements(client, f"/projects/{project.name}/results/")
        counted[n] = (len(dashboard), len(results))
        page = client.get(f"/projects/{project.name}/")
        counts = page.context["counts"]
        assert counts["instances"] == n and counts["human_imported"] == 2 * n
        assert counts["human_platform"] == 2 * (n // 4) and counts["lm_by_judge"][0]["n"] == n
        assert counts["tags"]["done"] == n and page.context["progress"]["needed"] == n // 2
        assert page.context["progress"]["done"] == n // 4
        assert page.context["runs"][0].human == n // 2 and page.context["runs"][0].decided == n
    assert counted[40] == counted[400], counted


@pytest.mark.django_db
def test_counts_follow_inserts_and_deletes_and_recount_repairs(project, tmp_path):
    """Bulk and single writes, deletes, a cascade from a deleted instance, and a repair of a count set by hand."""
    from annotation.importing.writer import import_file
    from annotation.models import HumanLabel, Instance, LMLabel, ProjectCount, project_counts, recount

    path = tmp_path / "data.jsonl"
    path.write_text(
        "".join(
            f'{{"id": "x{k}", "prompt": "p{k}", "response_a": "a", "response_b": "b", '
            f'"human_labels": [{{"annotator": "h1", "label": "A"}}], "lm_labels": {{"jj": "B"}}}}\n'
            for k in range(30)
        )
    )
    import_file(project, path)
    instances = list(Instance.objects.filter(project=project).order_by("pk"))
    HumanLabel.objects.create(instance=instances[0], annotator_ref="h2", source="platform", preference=1)
    LMLabel.objects.create(instance=instances[1], judge="kk", prompt_version="v2", preference=1)
    instances[2].delete()  # its labels go with it
    HumanLabel.objects.filter(instance=instances[3]).delete()
    counts = project_counts(project)
    assert counts["instances"] == 29 and counts["human"] == {"imported": 28, "platform": 1}
    assert {(r["judge"], r["prompt_version"]): r["n"] for r in counts["lm"]} == {
        (
            LMLabel.objects.get(instance=instances[0]).judge,
            LMLabel.objects.get(instance=instances[0]).prompt_version,
        ): 29,
        ("kk", "v2"): 1,
    }
    assert recount(project) == 0
    ProjectCount.objects.filter(project=project, kind="instances").update(n=7)
    ProjectCount.objects.filter(project=project, kind="human", source="platform").delete()
    call_command("recount_projects", project.name)
    assert project_counts(project) == counts
    project.delete()
    assert not ProjectCount.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_dashboard_queries_read_labels_and_assignments_by_index(client, researcher):
    """With 3,000 instances, 10,500 labels, 1,500 assignments and gathered statistics, no query of the
    dashboard or the progress page scans a label or tag table sequentially: their counts are maintained."""
    if connection.vendor != "postgresql":
        pytest.skip("the EXPLAIN test needs PostgreSQL: run it with DATABASE_URL=postgres://...")
    project = sized_project(researcher, "explained")
    fill(project, 3000, [qualified_annotator(project, f"e{k}") for k in range(2)])
    other = sized_project(researcher, "other")
    make_instances(other, 3000)  # the instance table is not one project's alone
    client.force_login(researcher)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    for path in (f"/projects/{project.name}/", f"/projects/{project.name}/results/"):
        for statement in page_statements(client, path):
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN " + statement)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            for table in LARGE_TABLES:
                assert f"Seq Scan on {table}" not in plan, f"{path}: {statement[:200]}\n{plan}"
