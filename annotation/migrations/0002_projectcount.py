"""Maintained project counts (``annotation.models.counts``): the table, the triggers that keep it, the fill.

PostgreSQL: statement-level triggers with transition tables (one grouped upsert per statement, so a bulk
import of 100,000 instances costs one statement more). SQLite: row-level triggers with an upsert each.
Inserts add (creating the count), deletes subtract (never creating one: a project being deleted loses its
counts first). Existing rows are counted once here.
"""

import django.db.models.deletion
from django.db import migrations, models

COUNT = "annotation_projectcount"
GROUP = "(project_id, kind, source, judge, prompt_version)"
# table -> (kind, the grouped columns written to source / judge / prompt_version)
COUNTED = {
    "annotation_instance": ("instances", "''", "''", "''"),
    "annotation_humanlabel": ("human", "l.source", "''", "''"),
    "annotation_lmlabel": ("lm", "''", "l.judge", "l.prompt_version"),
}


def _rows(table: str, rows: str) -> str:
    """A FROM clause giving ``project_id`` and the row's group columns (``l``) for ``rows``."""
    if table == "annotation_instance":
        return f"{rows} l"
    return f"{rows} l JOIN annotation_instance i ON i.id = l.instance_id"


def _project(table: str) -> str:
    return "l.project_id" if table == "annotation_instance" else "i.project_id"


def _grouped_by(*columns: str) -> str:
    """The GROUP BY list: the columns, without the empty-string constants (PostgreSQL refuses those)."""
    return ", ".join(column for column in columns if column != "''")


def _fill_sql(table: str) -> str:
    kind, source, judge, version = COUNTED[table]
    return (
        f"INSERT INTO {COUNT} {GROUP[:-1]}, n) "
        f"SELECT {_project(table)}, '{kind}', {source}, {judge}, {version}, COUNT(*) FROM {_rows(table, table)} "
        f"GROUP BY {_grouped_by(_project(table), source, judge, version)}"
    )


def _postgres_sql(table: str) -> list[str]:
    kind, source, judge, version = COUNTED[table]
    project = _project(table)
    grouped = (
        f"SELECT {project} AS project_id, {source} AS source, {judge} AS judge, {version} AS prompt_version, "
        f"COUNT(*) AS n FROM {_rows(table, 'changed')} "
        f"GROUP BY {_grouped_by(project, source, judge, version)}"
    )
    function = f"{table}_count"
    body = f"""
    CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO {COUNT} {GROUP[:-1]}, n)
        SELECT d.project_id, '{kind}', d.source, d.judge, d.prompt_version, d.n FROM ({grouped}) d
        ORDER BY 1, 3, 4, 5
        ON CONFLICT {GROUP} DO UPDATE SET n = {COUNT}.n + EXCLUDED.n;
      ELSE
        UPDATE {COUNT} c SET n = c.n - d.n FROM ({grouped}) d
        WHERE c.project_id = d.project_id AND c.kind = '{kind}' AND c.source = d.source
          AND c.judge = d.judge AND c.prompt_version = d.prompt_version;
      END IF;
      RETURN NULL;
    END $$;
    """
    return [
        body,
        f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS changed "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS changed "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


def _sqlite_sql(table: str) -> list[str]:
    kind, source, judge, version = COUNTED[table]

    def row(alias: str) -> tuple[str, str, str, str]:
        project = (
            f"{alias}.project_id"
            if table == "annotation_instance"
            else f"(SELECT project_id FROM annotation_instance WHERE id = {alias}.instance_id)"
        )
        return tuple(part.replace("l.", f"{alias}.") for part in (project, source, judge, version))

    p, s, j, v = row("NEW")
    op, os_, oj, ov = row("OLD")
    return [
        f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {COUNT} {GROUP[:-1]}, n) VALUES ({p}, '{kind}', {s}, {j}, {v}, 1) "
        f"ON CONFLICT {GROUP} DO UPDATE SET n = n + 1; END",
        f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} BEGIN "
        f"UPDATE {COUNT} SET n = n - 1 WHERE project_id = {op} AND kind = '{kind}' AND source = {os_} "
        f"AND judge = {oj} AND prompt_version = {ov}; END",
    ]


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(
            f"annotation 0002: project counts have triggers for PostgreSQL and SQLite, not {vendor}"
        )
    build = _postgres_sql if vendor == "postgresql" else _sqlite_sql
    for table in COUNTED:
        schema_editor.execute(_fill_sql(table))
        for statement in build(table):
            schema_editor.execute(statement)


def drop_triggers(apps, schema_editor) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for table in COUNTED:
        for event in ("insert", "delete"):
            on = f" ON {table}" if postgres else ""
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_count_{event}{on}")
        if postgres:
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_count()")


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="ProjectCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("instances", "Instances"),
                            ("human", "Human labels of one source"),
                            ("lm", "LM labels of one judge and prompt version"),
                        ],
                        max_length=16,
                    ),
                ),
                ("source", models.CharField(blank=True, default="", max_length=16)),
                ("judge", models.CharField(blank=True, default="", max_length=255)),
                ("prompt_version", models.CharField(blank=True, default="", max_length=64)),
                ("n", models.BigIntegerField(default=0)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="counts",
                        to="annotation.project",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("project", "kind", "source", "judge", "prompt_version"),
                        name="one_count_per_group",
                    )
                ]
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
