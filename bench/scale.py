"""Large projects stay fast: a project of N instances (default 1,000,000) on PostgreSQL, its pages and routes.

Run: .venv/bin/python bench/scale.py [--instances 1000000] [--import-lines 100000] [--requests 7]
                                     [--keep-database] [--reuse] [--skip-route]

What it does, all on this machine:
1. (Re)creates the PostgreSQL database ``hp_scale_bench`` (Redis db 8, a temporary data directory) and builds
   a MultiPref project of N instances in SQL (setup, not measured): instances, the 9 textual tags of each at
   the current versions (9 N tag values), one LM label each, 3 imported human votes on every tenth instance,
   and a fitted PPM registered for it. ``--reuse`` keeps a database built by an earlier ``--keep-database``
   run (the build takes minutes at 1,000,000).
2. Times the real import path: ``manage.py import_instances`` of a JSONL file of ``--import-lines`` lines
   into a fresh project of the same database (a table that already holds N instances), and extrapolates
   linearly to N.
3. Times ``manage.py route`` with its defaults (the project's budget fraction, the default K), in its own
   process, with its peak resident memory (``--skip-route`` reuses the newest run of a kept database).
4. Gives the people-routed instances annotators: 2 submitted assignments (with their platform labels) on
   the first 40% of them, quota rows from the real ``ensure_quota_rows``.
5. Measures, as p50 over ``--requests`` requests through Django's test client (in this process, DEBUG off):
   ``/health/``, the researcher's dashboard, the results page (progress per tier), the workflow progress
   page and endpoint, the home page and the API list endpoints a researcher opens, and next-task of an
   annotator (next-task then submit, several annotators); each page against 300 ms, next-task against the
   same run's ``/health/`` p50.
6. EXPLAINs every SELECT each page ran (captured in one more request) and names the queries that scan a
   large table (instances, labels, assignments, quota rows, tag values, routing decisions) sequentially.

The last line sums it up. Timings on a shared machine move with the other work on it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from django.db import connections  # noqa: E402

import platform_compat  # noqa: E402,F401  (the project's platform package beside the standard library's)
from bench.scratch_db import ScratchDatabase  # noqa: E402

DB_NAME = "hp_scale_bench"
SCRATCH = ScratchDatabase(DB_NAME, "redis://127.0.0.1:6379/8")
PROJECT = "scale"
IMPORTED = "scale-import"
PPM_NAME = "scale-ppm"
JUDGE = "bench-judge"
TARGET_MS = 300.0
BUDGET_FRACTION = 0.25
LABELLED_SHARE = 0.4  # of the people-routed instances: 2 submitted assignments each
ANNOTATORS = 10
LARGE_TABLES = (
    "annotation_instance",
    "annotation_humanlabel",
    "annotation_lmlabel",
    "workflow_assignment",
    "workflow_quotastate",
    "routing_tagvalue",
    "routing_routingdecision",
    "judging_lmjudgment",
)
LIMITS = {"instances": (1_000, 2_000_000), "import_lines": (100, 1_000_000), "requests": (3, 50)}


# --------------------------------------------------------------------------- environment and database


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def sql(statement: str, params: list | tuple = ()) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- building the project


def tag_versions() -> dict[str, str]:
    from routing.config import get_mode
    from routing.textual import TAG_NAMES, tag_version

    mode = get_mode("recommended")
    return {name: tag_version(name, mode) for name in TAG_NAMES}


def build_project(n: int):
    """The project, its instances, tags, LM labels and imported votes, written in SQL (setup only)."""
    from django.contrib.auth.models import User

    from annotation.core.schemes import default_scheme_config
    from annotation.models import Project, ProjectMembership, UserProfile

    owner = User.objects.create_user("scale-researcher", password="unused-password")
    UserProfile.objects.filter(user=owner).update(role="researcher")
    project = Project.objects.create(
        name=PROJECT,
        scheme=default_scheme_config("multipref"),
        overlap={"normal": 2, "expert": 0},
        human_budget_fraction=BUDGET_FRACTION,
        created_by=owner,
    )
    ProjectMembership.objects.create(project=project, user=owner, role="researcher")
    started = time.perf_counter()
    _insert_instances(project.pk, n)
    say(f"  setup: {n:,} instances in {time.perf_counter() - started:.0f} s")
    _insert_tags(project.pk)
    say(f"  setup: {9 * n:,} tag values by {time.perf_counter() - started:.0f} s")
    _insert_labels(project.pk)
    say(f"  setup: LM labels and imported votes by {time.perf_counter() - started:.0f} s")
    sql("VACUUM ANALYZE")
    return project


def _insert_instances(project_id: int, n: int) -> None:
    sql(
        """
        INSERT INTO annotation_instance (project_id, external_id, prompt, response_a, response_b, model_a,
            model_b, metadata, created_at, updated_at)
        SELECT %s, 'i' || g, 'Question ' || g || ': how should a careful assistant answer this?',
            'A first answer to question ' || g || ', with a few sentences of content.',
            'A second answer to question ' || g || ', phrased differently.', 'model-a', 'model-b',
            jsonb_build_object('category', 'cat' || (g %% 12), 'domain', 'domain' || (g %% 5)), now(), now()
        FROM generate_series(1, %s) g
        """,
        [project_id, n],
    )


def _insert_tags(project_id: int) -> None:
    """The 9 textual tags at the current versions: lengths in tokens, the rest shares in [0, 1]."""
    from routing.textual import LENGTH_TAGS

    for tag, version in tag_versions().items():
        value = "20 + floor(random() * 600)" if tag in LENGTH_TAGS else "random()"
        sql(
            f"""
            INSERT INTO routing_tagvalue (instance_id, tag, value, extractor, extractor_version, created_at)
            SELECT id, %s, {value}, 'textual', %s, now() FROM annotation_instance WHERE project_id = %s
            """,
            [tag, version, project_id],
        )


def _insert_labels(project_id: int) -> None:
    sql(
        """
        INSERT INTO annotation_lmlabel (instance_id, judge, prompt_version, source, preference, confidence,
            consistent, details, created_at)
        SELECT id, %s, 'v1', 'imported', (id %% 5) - 2, 0.8, true, '{}', now()
        FROM annotation_instance WHERE project_id = %s
        """,
        [JUDGE, project_id],
    )
    sql(
        """
        INSERT INTO annotation_humanlabel (instance_id, annotator_ref, source, neither_valid, aspects, ratings,
            answers, shown_swapped, flagged_fast, is_gold, created_at, preference)
        SELECT i.id, 'rater-' || v, 'imported', false, '{}', '{}', '{}', false, false, false, now(),
            ((i.id + v) %% 3) - 1
        FROM annotation_instance i CROSS JOIN generate_series(1, 3) v
        WHERE i.project_id = %s AND i.id %% 10 = 0
        """,
        [project_id],
    )


def register_bench_ppm(project) -> None:
    """A quadratic PPM over the project's feature columns (textual bins and descriptive features, no
    uncertainty tags), fitted on random masks of a small synthetic table of the same shape."""
    from routing.app.services import register_ppm
    from routing.binning import TagTable
    from routing.candidates import generate_candidates
    from routing.config import get_mode, replace
    from routing.features import FeatureBuilder
    from routing.ppm import PPM
    from routing.textual import LENGTH_TAGS

    rng = np.random.default_rng(0)
    versions = tag_versions()
    size = 2000
    textual = {
        tag: rng.integers(20, 620, size).astype(float) if tag in LENGTH_TAGS else rng.random(size)
        for tag in versions
    }
    mode = replace(get_mode("recommended"), uncertainty_tags=False)
    table = TagTable.build(list(range(size)), textual, tag_versions=versions)
    builder = FeatureBuilder(table, mode)
    X = builder.transform(generate_candidates(builder.T, 200, rng).masks)
    ppm = PPM("quadratic", mode=mode).fit(X, X @ rng.normal(0, 0.05, X.shape[1]), builder.feature_names)
    register_ppm(ppm, PPM_NAME, project)


# --------------------------------------------------------------------------- import and route (timed)


def import_record(k: int) -> dict:
    return {
        "id": f"imp-{k}",
        "prompt": f"Question {k}: how should a careful assistant answer this?",
        "response_a": f"A first answer to question {k}, with a few sentences of content.",
        "response_b": f"A second answer to question {k}, phrased differently.",
        "category": f"cat{k % 12}",
        "human_labels": [{"annotator": f"rater-{v}", "label": "AB"[(k + v) % 2]} for v in range(2)],
        "lm_labels": {JUDGE: "A" if k % 3 else "B"},
    }


def run_command(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """A manage.py command in its own process: (wall seconds, peak RSS in MB, its output)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def time_import(lines: int, n: int, env: dict[str, str], work: Path) -> str:
    from annotation.models import Instance, Project

    Project.objects.filter(name=IMPORTED).delete()
    path = work / "import.jsonl"
    with path.open("w") as out:
        for k in range(lines):
            out.write(json.dumps(import_record(k)) + "\n")
    seconds, rss, _ = run_command(["import_instances", IMPORTED, str(path), "--verbosity=0"], env)
    stored = Instance.objects.filter(project__name=IMPORTED).count()
    if stored != lines:
        raise SystemExit(f"import: {stored} instances stored from {lines} lines")
    per_second = lines / seconds
    say(
        f"import: {lines:,} lines (2 votes + 1 LM label each) in {seconds:.1f} s = {per_second:,.0f} lines/s, "
        f"peak RSS {rss:.0f} MB; {n:,} lines would take about {n / per_second / 60:.1f} min (linear)"
    )
    return f"import {per_second:,.0f} lines/s ({n:,} in ~{n / per_second / 60:.0f} min)"


def time_route(env: dict[str, str]) -> str:
    seconds, rss, output = run_command(["route", PROJECT, "--ppm", PPM_NAME], env)
    say(f"route: {output.strip().splitlines()[-1]}; {seconds:.1f} s, peak RSS {rss:.0f} MB")
    return f"route {seconds:.0f} s"


def keep_newest_run(project) -> None:
    """Older routing runs of a kept database are dropped (their decisions in SQL), so pages see one run."""
    from routing.app.models import RoutingRun

    newest = RoutingRun.objects.filter(project=project).order_by("-id").first()
    if newest is None:
        raise SystemExit("--skip-route: the kept database has no routing run; run once without it")
    older = list(
        RoutingRun.objects.filter(project=project).exclude(pk=newest.pk).values_list("pk", flat=True)
    )
    if older:
        sql("DELETE FROM routing_routingdecision WHERE run_id = ANY(%s)", [older])
        RoutingRun.objects.filter(pk__in=older).delete()


# --------------------------------------------------------------------------- annotators and their work


def make_annotators(project) -> list:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from annotation.models import ProjectMembership, UserProfile
    from annotation.workflow.models import QualificationAttempt
    from annotation.workflow.settings_store import settings_for

    conf = settings_for(project)
    conf.gold_rate, conf.min_seconds = 0.0, 0
    conf.save()
    people = []
    for k in range(ANNOTATORS):
        user, created = User.objects.get_or_create(username=f"scale-annotator-{k}")
        if created:
            UserProfile.objects.filter(user=user).update(role="annotator")
            ProjectMembership.objects.create(project=project, user=user, role="annotator")
            QualificationAttempt.objects.create(
                project=project,
                user=user,
                guideline_version=conf.guideline_version,
                item_ids=[],
                correct=1,
                score=1.0,
                passed=True,
                finished_at=timezone.now(),
            )
        people.append(user)
    return people


def give_routed_work(project, people) -> int:
    """Platform labels and submitted assignments of 2 annotators on the first share of the routed instances
    (replacing earlier ones), then the quota rows and progress counters of every routed instance, counted by
    the real code (the repair command: these assignments were written past the workflow)."""
    from django.core.management import call_command

    from annotation.workflow.queue import instances_for_people
    from annotation.workflow.quota import ensure_quota_rows

    source = instances_for_people(project)
    ids = list(source.instances.order_by("pk").values_list("pk", flat=True))
    labelled = ids[: int(len(ids) * LABELLED_SHARE)]
    user_ids = [p.pk for p in people]
    sql("DELETE FROM workflow_quotastate WHERE project_id = %s", [project.pk])
    sql("DELETE FROM workflow_progressstate WHERE project_id = %s", [project.pk])
    sql("DELETE FROM workflow_progresscounter WHERE project_id = %s", [project.pk])
    sql("DELETE FROM workflow_assignment WHERE user_id = ANY(%s)", [user_ids])
    sql("DELETE FROM annotation_humanlabel WHERE annotator_id = ANY(%s)", [user_ids])
    pairs = """
        SELECT i, (%s::bigint[])[1 + (i + k) %% %s] AS u FROM unnest(%s::bigint[]) i
        CROSS JOIN generate_series(0, 1) k
    """
    params = [user_ids, len(user_ids), labelled]
    sql(
        f"""
        INSERT INTO annotation_humanlabel (instance_id, annotator_ref, annotator_id, source, neither_valid,
            aspects, ratings, answers, shown_swapped, flagged_fast, is_gold, created_at, preference, time_ms)
        SELECT i, 'user:' || u, u, 'platform', false, '{{}}', '{{}}', '{{}}', false, false, false, now(), 1,
            20000
        FROM ({pairs}) p
        """,
        params,
    )
    sql(
        f"""
        INSERT INTO workflow_assignment (instance_id, user_id, tier, status, shown_swapped, why, created_at,
            served_at, expires_at, finished_at, skip_reason, lease_token, label_id)
        SELECT p.i, p.u, 'normal', 'submitted', false, '[]', now(), now(), now(), now(), '', '', l.id
        FROM ({pairs}) p JOIN annotation_humanlabel l ON l.instance_id = p.i AND l.annotator_id = p.u
        """,
        params,
    )
    ensure_quota_rows(project, ids)
    started = time.perf_counter()
    call_command("rebuild_quota_counters", project.name)
    say(f"progress counters of {len(ids):,} routed instances built in {time.perf_counter() - started:.0f} s")
    sql("VACUUM ANALYZE")
    return len(ids)


# --------------------------------------------------------------------------- measuring requests


@dataclass
class Timing:
    name: str
    path: str
    ms: list[float] = field(default_factory=list)
    queries: int = 0
    seq_scans: list[str] = field(default_factory=list)
    status: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)


def client_for(user):
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def timed_get(client, path: str, requests: int, name: str) -> Timing:
    timing = Timing(name, path)
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timing.ms.append((time.perf_counter() - started) * 1000)
        timing.status = response.status_code
        if response.status_code != 200:
            raise SystemExit(f"{name}: GET {path} answered {response.status_code}")
    explain_queries(client, timing)
    return timing


def explain_queries(client, timing: Timing) -> None:
    """One more request with its queries captured; each SELECT is EXPLAINed, sequential scans of the large
    tables are named."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(timing.path)
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    timing.queries = len(captured.captured_queries)
    with connection.cursor() as cursor:
        for statement in selects:
            cursor.execute("EXPLAIN " + statement)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            for table in re.findall(r"Seq Scan on (\w+)", plan):
                if table in LARGE_TABLES:
                    timing.seq_scans.append(f"{table}: {statement[:150]}")


MP_ANSWER = {
    "overall": "A-slightly",
    "aspects": {"helpfulness": "A-clearly", "truthfulness": "tie", "harmlessness": "B-slightly"},
    "reasons": {"helpfulness": ["correct", "concise"]},
    "justification": "",
}


def time_annotating(people, project, rounds: int) -> Timing:
    """Next-task then submit, round-robin over the annotators; next-task is timed (a new lease each time)."""
    path = f"/api/projects/{project.name}/tasks/next/"
    timing = Timing("next-task", path)
    clients = [client_for(p) for p in people]
    clients[0].post(path, content_type="application/json")  # warm-up: syncs quota rows if needed
    for _ in range(rounds):
        for client in clients:
            started = time.perf_counter()
            response = client.post(path, content_type="application/json")
            timing.ms.append((time.perf_counter() - started) * 1000)
            task = response.json().get("task")
            if response.status_code != 200 or task is None:
                raise SystemExit(f"next-task answered {response.status_code}: {response.content[:300]!r}")
            body = {"answer": MP_ANSWER, "lease_token": task["lease_token"]}
            submitted = client.post(
                f"/api/projects/{project.name}/tasks/{task['id']}/submit/",
                body,
                content_type="application/json",
            )
            if submitted.status_code != 201:
                raise SystemExit(f"submit answered {submitted.status_code}: {submitted.content[:300]!r}")
    return timing


def measure(project, researcher, people, requests: int) -> tuple[Timing, list[Timing], Timing]:
    client = client_for(researcher)
    name = project.name
    health = timed_get(client, "/health/", requests * 3, "health")
    pages = [
        ("dashboard", f"/projects/{name}/"),
        ("results (progress per tier)", f"/projects/{name}/results/"),
        ("workflow progress page", f"/annotate/{name}/progress/"),
        ("workflow progress API", f"/api/projects/{name}/progress/"),
        ("home (project list)", "/"),
        ("API projects", "/api/projects/"),
        ("API instances", f"/api/projects/{name}/instances/"),
        ("API human labels", f"/api/projects/{name}/labels/human/"),
        ("API LM labels", f"/api/projects/{name}/labels/lm/"),
        ("API jobs", "/api/jobs/"),
    ]
    timings = [timed_get(client, path, requests, label) for label, path in pages]
    return health, timings, time_annotating(people, project, max(2, requests // 3))


# --------------------------------------------------------------------------- main


def bounded(value: int, name: str) -> int:
    low, high = LIMITS[name]
    if not low <= value <= high:
        raise SystemExit(f"--{name.replace('_', '-')} {value}: expected {low:,} to {high:,}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--import-lines", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--keep-database", action="store_true", help="Do not drop hp_scale_bench at the end.")
    parser.add_argument("--reuse", action="store_true", help="Use a database kept by --keep-database.")
    parser.add_argument("--skip-route", action="store_true", help="With --reuse: keep the newest run.")
    args = parser.parse_args()
    for name in LIMITS:
        bounded(getattr(args, name), name)
    return args


def report(health: Timing, timings: list[Timing], annotating: Timing) -> tuple[int, int]:
    slow = scans = 0
    say(f"health: p50 {health.p50:.1f} ms")
    for t in timings:
        verdict = "ok" if t.p50 <= TARGET_MS else "SLOW"
        slow += verdict != "ok"
        scans += bool(t.seq_scans)
        say(
            f"{t.name}: p50 {t.p50:.0f} ms ({verdict} vs {TARGET_MS:.0f} ms), {t.queries} queries, "
            f"{len(t.seq_scans)} seq scans of large tables"
        )
        for line in t.seq_scans:
            say(f"    seq scan {line}")
    ratio = annotating.p50 / health.p50
    say(f"next-task: p50 {annotating.p50:.1f} ms = {ratio:.1f}x health ({len(annotating.ms)} leases)")
    return slow, scans


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="hp-scale-"))
    env = SCRATCH.environment(data_dir)
    os.environ.update(env)
    reuse = args.reuse and SCRATCH.exists()
    if not reuse:
        SCRATCH.recreate()
    setup_django()
    from django.contrib.auth.models import User

    from annotation.models import Project

    try:
        if reuse:
            project = Project.objects.get(name=PROJECT)
            say(f"reusing {DB_NAME}: {project.instances.count():,} instances")
        else:
            project = build_project(args.instances)
        register_bench_ppm(project)
        n = project.instances.count()
        lines = [time_import(args.import_lines, n, env, data_dir)]
        if args.skip_route and reuse:
            say("route: skipped (--skip-route), the kept database's newest run is used")
            lines.append("route skipped")
        else:
            lines.append(time_route(env))
        keep_newest_run(project)
        people = make_annotators(project)
        routed = give_routed_work(project, people)
        say(
            f"annotation state: {routed:,} instances routed to people, 2 labels on {LABELLED_SHARE:.0%} of them"
        )
        researcher = User.objects.get(username="scale-researcher")
        health, timings, annotating = measure(project, researcher, people, args.requests)
        slow, scans = report(health, timings, annotating)
        worst = max(timings, key=lambda t: t.p50)
        say(
            f"scale: {n:,} instances; {len(timings) - slow}/{len(timings)} pages under {TARGET_MS:.0f} ms "
            f"(slowest {worst.name} {worst.p50:.0f} ms), {scans} with seq scans of large tables; "
            f"next-task p50 {annotating.p50:.1f} ms = {annotating.p50 / health.p50:.1f}x health; "
            + "; ".join(lines)
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if not args.keep_database:
            connections.close_all()
            SCRATCH.drop()


if __name__ == "__main__":
    main()
