"""Load benchmark of the annotation workflow: real gunicorn on PostgreSQL and Redis, HTTP annotators.

Run: .venv/bin/python bench/web.py [--annotators 50|100] [--instances 1000] [--overlap 4]

What it does, all on this machine (traffic only to 127.0.0.1):
1. (Re)creates the PostgreSQL database ``hp_bench``, migrates it, and uses Redis db 13 and a temporary data
   directory, so nothing of a developer's or a test's state is touched; drops the database at the end.
2. Creates a MultiPref project (``--instances`` instances sent to people, overlap ``--overlap``, no gold
   mixing) and qualified annotators with API tokens made in the database (no sign-in requests, so the
   sign-in throttle never fires).
3. Starts gunicorn and drives the annotators with one async HTTP client:
   - closed loop: every annotator asks for its next task and submits it at once, until the project is done,
     while a probe measures ``GET /health/`` in the same run (the floor: what any request costs);
   - think time: ``--think-annotators`` people wait ``--think-seconds`` on each task before submitting, for
     ``--think-duration`` seconds (then each finishes the task it holds).
4. Checks integrity from the database: every instance has exactly ``overlap`` distinct annotators (closed
   loop), stored labels equal accepted submissions one for one, no annotator labelled an instance twice, no
   active assignment is left.

The last line sums it up: requests/s of the closed loop, next-task p50 and its ratio to the health p50,
next-task and submit p95 under think time, and the integrity verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import platform_compat  # noqa: E402,F401  (the project's platform package beside the standard library's)

DB_NAME = "hp_bench"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/13"
HOST = "127.0.0.1"
MP_ANSWER = {
    "overall": "A-slightly",
    "aspects": {"helpfulness": "A-clearly", "truthfulness": "tie", "harmlessness": "B-slightly"},
    "reasons": {"helpfulness": ["correct", "concise"]},
    "justification": "",
}
BUSY_RETRY_S = 0.05
LIMITS = {"annotators": (1, 500), "instances": (1, 100_000), "overlap": (1, 10), "think_duration": (5, 900)}


# --------------------------------------------------------------------------- environment and database


def bench_environment(data_dir: Path) -> dict[str, str]:
    """Settings for both this process and gunicorn: the bench database, Redis db 13, a fresh data dir."""
    return {
        "HYBRIDPREF_ENV": "dev",
        "HYBRIDPREF_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
        "CELERY_BROKER_URL": REDIS_URL,
        "REDIS_URL": REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "platform.settings",
        "LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def recreate_database() -> None:
    """Drop and create ``hp_bench`` (a previous run's leftovers never skew this one)."""
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --------------------------------------------------------------------------- project and annotators


def create_project(name: str, n_instances: int, overlap: int):
    """A MultiPref project whose instances are all sent to people; no gold items, no minimum time."""
    from django.contrib.auth.models import User

    from annotation.core.schemes import default_scheme_config
    from annotation.models import Instance, Project
    from annotation.workflow.queue import add_to_queue
    from annotation.workflow.settings_store import settings_for

    owner, _ = User.objects.get_or_create(username="bench-researcher")
    project = Project.objects.create(
        name=name, scheme=default_scheme_config("multipref"), overlap={"normal": overlap}, created_by=owner
    )
    instances = Instance.objects.bulk_create(
        Instance(
            project=project,
            external_id=f"b{k}",
            prompt=f"Question {k}: how should a careful assistant answer this?",
            response_a=f"A first answer to question {k}, with a few sentences of content.",
            response_b=f"A second answer to question {k}, phrased differently.",
        )
        for k in range(n_instances)
    )
    add_to_queue(project, instances)
    conf = settings_for(project)
    conf.gold_rate, conf.min_seconds = 0.0, 0
    conf.save()
    return project


def create_annotators(project, count: int) -> list[tuple[int, str]]:
    """Qualified annotators of ``project`` (created once, reused by later projects): (user id, API token)."""
    from django.contrib.auth.models import User
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from annotation.models import ProjectMembership, UserProfile
    from annotation.workflow.models import QualificationAttempt
    from annotation.workflow.settings_store import settings_for

    version = settings_for(project).guideline_version
    out = []
    for k in range(count):
        user, created = User.objects.get_or_create(username=f"bench-annotator-{k}")
        if created:
            user.set_unusable_password()
            user.save()
        UserProfile.objects.filter(user=user).update(role="annotator")
        ProjectMembership.objects.get_or_create(project=project, user=user, defaults={"role": "annotator"})
        QualificationAttempt.objects.create(
            project=project,
            user=user,
            guideline_version=version,
            item_ids=[],
            correct=1,
            score=1.0,
            passed=True,
            finished_at=timezone.now(),
        )
        token, _ = Token.objects.get_or_create(user=user)
        out.append((user.pk, token.key))
    return out


# --------------------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    """gunicorn as in production (sync workers, or gthread with ``threads`` > 1), its own process group."""
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "platform.wsgi:application",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        "--timeout=120",
        "--backlog=2048",
        "--log-level=warning",
    ]
    if threads > 1:
        cmd += ["--worker-class=gthread", f"--threads={threads}"]
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def wait_ready(client, process: subprocess.Popen, log: Path, workers: int) -> None:
    """Until /health/ answers; then warm every worker (its first request imports the URL configuration)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            if (await client.get("/health/")).status_code == 200:
                break
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        await asyncio.sleep(0.5)
    else:
        raise SystemExit(f"gunicorn did not answer /health/ within 180 s: {log.read_text()[-3000:]}")
    for _ in range(3):
        await asyncio.gather(*(client.get("/health/") for _ in range(4 * workers)))


# --------------------------------------------------------------------------- load


@dataclass
class Record:
    """Latencies (seconds) per request kind, accepted submissions (user id, assignment id), failures."""

    latency: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "submit": [], "health": []})
    accepted: list[tuple[int, int]] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    requests: int = 0

    async def timed(self, kind: str, request):
        t0 = time.perf_counter()
        response = await request
        self.latency[kind].append(time.perf_counter() - t0)
        self.requests += 1
        return response


class Annotator:
    """One person behind an API token: next task, (think), submit."""

    def __init__(self, client, project: str, user_id: int, token: str, record: Record) -> None:
        self.client, self.project, self.user_id, self.record = client, project, user_id, record
        self.headers = {"Authorization": f"Token {token}"}

    async def next_task(self) -> dict | None | bool:
        """The leased task, None when nothing is left, False when the server says to ask again."""
        url = f"/api/projects/{self.project}/tasks/next/"
        reply = await self.record.timed("next", self.client.post(url, headers=self.headers))
        if reply.status_code != 200:
            self.record.failures[f"next {reply.status_code}: {reply.text[:120]}"] += 1
            return None
        body = reply.json()
        if body["task"] is None:
            return False if body.get("retry") else None
        return body["task"]

    async def submit(self, task: dict) -> None:
        url = f"/api/projects/{self.project}/tasks/{task['id']}/submit/"
        payload = {"answer": MP_ANSWER, "lease_token": task.get("lease_token")}
        reply = await self.record.timed("submit", self.client.post(url, json=payload, headers=self.headers))
        if reply.status_code == 201:
            self.record.accepted.append((self.user_id, task["id"]))
        else:
            self.record.failures[f"submit {reply.status_code}: {reply.text[:120]}"] += 1

    async def closed_loop(self) -> None:
        """No think time: the next request leaves as soon as the previous answer arrives."""
        while (task := await self.next_task()) is not None:
            if task is False:
                await asyncio.sleep(BUSY_RETRY_S)
                continue
            await self.submit(task)

    async def thinking(self, think_s: float, deadline: float) -> None:
        """Reads each task for ``think_s`` seconds (first start spread over one think time)."""
        await asyncio.sleep(random.uniform(0, think_s))
        while time.monotonic() < deadline:
            task = await self.next_task()
            if task is None:
                return
            if task is False:
                await asyncio.sleep(BUSY_RETRY_S)
                continue
            await asyncio.sleep(think_s)
            await self.submit(task)


async def probe_health(client, record: Record, stop: asyncio.Event, every_s: float = 0.1) -> None:
    """GET /health/ through the same server during the run: the floor next-task is compared with."""
    while not stop.is_set():
        reply = await record.timed("health", client.get("/health/"))
        if reply.status_code != 200:
            record.failures[f"health {reply.status_code}"] += 1
        await asyncio.sleep(every_s)


def make_client(base_url: str, connections: int):
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120.0)


async def run_closed_loop(base_url: str, project: str, people: list[tuple[int, str]]) -> tuple[Record, float]:
    record = Record()
    async with make_client(base_url, len(people) + 2) as client:
        stop = asyncio.Event()
        probe = asyncio.create_task(probe_health(client, record, stop))
        t0 = time.perf_counter()
        await asyncio.gather(*(Annotator(client, project, u, t, record).closed_loop() for u, t in people))
        elapsed = time.perf_counter() - t0
        stop.set()
        await probe
    return record, elapsed


async def run_think_time(
    base_url: str, project: str, people: list[tuple[int, str]], think_s: float, duration_s: float
) -> tuple[Record, float]:
    record = Record()
    async with make_client(base_url, len(people) + 2) as client:
        stop = asyncio.Event()
        probe = asyncio.create_task(probe_health(client, record, stop, every_s=0.5))
        t0 = time.perf_counter()
        deadline = time.monotonic() + duration_s
        await asyncio.gather(
            *(Annotator(client, project, u, t, record).thinking(think_s, deadline) for u, t in people)
        )
        elapsed = time.perf_counter() - t0
        stop.set()
        await probe
    return record, elapsed


# --------------------------------------------------------------------------- integrity and report


def integrity(project, record: Record, complete: bool) -> list[str]:
    """Problems found in the database after a run (empty: all good)."""
    from django.db.models import Count

    from annotation.models import HumanLabel
    from annotation.workflow.models import Assignment

    problems = []
    labels = HumanLabel.objects.filter(instance__project=project)
    pairs = list(labels.values_list("instance_id", "annotator_ref"))
    if len(pairs) != len(record.accepted):
        problems.append(f"{len(pairs)} labels stored but {len(record.accepted)} submissions accepted")
    if len(set(pairs)) != len(pairs):
        problems.append(f"{len(pairs) - len(set(pairs))} instances labelled twice by one annotator")
    if len(set(record.accepted)) != len(record.accepted):
        problems.append("one assignment was accepted twice")
    overlap = project.overlap["normal"]
    per_instance = dict(
        project.instances.annotate(n=Count("human_labels__annotator_ref", distinct=True)).values_list(
            "id", "n"
        )
    )
    over = sum(1 for n in per_instance.values() if n > overlap)
    if over:
        problems.append(f"{over} instances have more than {overlap} annotators")
    if complete:
        short = sum(1 for n in per_instance.values() if n != overlap)
        if short:
            problems.append(
                f"{short} of {len(per_instance)} instances do not have exactly {overlap} annotators"
            )
    active = Assignment.objects.filter(instance__project=project, status="active").count()
    if active:
        problems.append(f"{active} assignments still active")
    if record.failures:
        problems.append(f"failed requests: {dict(record.failures.most_common(5))}")
    return problems


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000) if values else float("nan")


def describe(record: Record, elapsed: float) -> list[str]:
    lines = [f"  {record.requests} requests in {elapsed:.1f} s: {record.requests / elapsed:.1f} req/s"]
    for kind in ("next", "submit", "health"):
        values = record.latency[kind]
        lines.append(
            f"  {kind:<7s} n={len(values):<6d} p50 {ms(values, 50):8.1f} ms  p95 {ms(values, 95):8.1f} ms"
            f"  max {ms(values, 100):8.1f} ms"
        )
    return lines


def verdict(problems: list[str]) -> str:
    return "ok" if not problems else "FAILED (" + "; ".join(problems) + ")"


# --------------------------------------------------------------------------- main


def bounded(name: str, value: int) -> int:
    low, high = LIMITS[name]
    if not low <= value <= high:
        raise SystemExit(f"--{name.replace('_', '-')} must be between {low} and {high}, got {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotators", type=int, default=50, help="closed-loop annotators (50 or 100)")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--overlap", type=int, default=4)
    parser.add_argument("--think-annotators", type=int, default=50)
    parser.add_argument("--think-seconds", type=float, default=5.0)
    parser.add_argument("--think-duration", type=int, default=60, help="seconds of the think-time run")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="> 1: gthread workers with this many threads")
    parser.add_argument("--keep-db", action="store_true", help="leave hp_bench for inspection")
    args = parser.parse_args()
    for name in ("annotators", "instances", "overlap", "think_duration"):
        bounded(name, getattr(args, name))
    bounded("annotators", args.think_annotators)
    if not 0 <= args.think_seconds <= 60 or not 1 <= args.workers <= 64 or not 1 <= args.threads <= 64:
        raise SystemExit("--think-seconds must be 0..60, --workers and --threads 1..64")
    return args


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="hybridpref-bench-web-"))
    env = bench_environment(data_dir)
    os.environ.update(env)
    recreate_database()
    setup_django()
    port = free_port()
    log = data_dir / "gunicorn.log"
    server = start_gunicorn(env, port, args.workers, args.threads, log)
    try:
        run(args, f"http://{HOST}:{port}", server, log)
    finally:
        stop_gunicorn(server)
        if not args.keep_db:
            drop_database()
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, base_url: str, server: subprocess.Popen, log: Path) -> None:
    kind = f"{args.workers} gthread x {args.threads}" if args.threads > 1 else f"{args.workers} sync"
    print(f"gunicorn {kind} workers on PostgreSQL ({DB_NAME}) + Redis, {os.cpu_count()} CPUs", flush=True)
    project = create_project("bench", args.instances, args.overlap)
    people = create_annotators(project, max(args.annotators, args.think_annotators))

    async def ready() -> None:
        async with make_client(base_url, 4 * args.workers) as client:
            await wait_ready(client, server, log, args.workers)

    asyncio.run(ready())
    print(f"closed loop: {args.annotators} annotators, {args.instances} instances x overlap {args.overlap}")
    closed, closed_s = asyncio.run(run_closed_loop(base_url, project.name, people[: args.annotators]))
    closed_problems = integrity(project, closed, complete=True)
    print("\n".join(describe(closed, closed_s)))
    print(f"  integrity: {verdict(closed_problems)}", flush=True)

    think_project = create_project("bench-think", args.instances, args.overlap)
    think_people = create_annotators(think_project, args.think_annotators)
    print(
        f"think time: {args.think_annotators} annotators, {args.think_seconds:g} s per task, "
        f"{args.think_duration} s"
    )
    think, think_s = asyncio.run(
        run_think_time(base_url, think_project.name, think_people, args.think_seconds, args.think_duration)
    )
    think_problems = integrity(think_project, think, complete=False)
    print("\n".join(describe(think, think_s)))
    print(f"  integrity: {verdict(think_problems)}")

    next_p50, health_p50 = ms(closed.latency["next"], 50), ms(closed.latency["health"], 50)
    print(
        f"web: {closed.requests / closed_s:.0f} req/s closed-loop; next-task p50 {next_p50:.1f} ms = "
        f"{next_p50 / health_p50:.1f}x health; think-time p95 next {ms(think.latency['next'], 95):.0f} ms, "
        f"submit {ms(think.latency['submit'], 95):.0f} ms; integrity {verdict(closed_problems + think_problems)}"
    )


if __name__ == "__main__":
    main()
