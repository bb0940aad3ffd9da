"""Load benchmark of the annotation workflow: real gunicorn on PostgreSQL and Redis, HTTP annotators.

Run: .venv/bin/python bench/web.py [--annotators 50|100] [--instances 1000] [--overlap 4]

What it does, all on this machine (traffic only to 127.0.0.1):
1. (Re)creates the PostgreSQL database ``hp_bench``, migrates it, and uses Redis db 13 and a temporary data
   directory, so nothing of a developer's or a test's state is touched; drops the database at the end.
2. Creates a MultiPref project (``--instances`` instances sent to people, overlap ``--overlap``, no gold
   mixing) and qualified annotators with API tokens made in the database (no sign-in requests, so the
   sign-in throttle never fires).
3. Starts gunicorn (with the production configuration, ``platform/gunicorn.conf.py``) and drives the
   annotators over HTTP/1.1 keep-alive connections, one per annotator (a small asyncio client: see
   ``Connection``), printing the CPU that the client, gunicorn and PostgreSQL spent per request:
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
import contextlib
import json
import os
import random
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from django.db import connections  # noqa: E402

import platform_compat  # noqa: E402,F401  (the project's platform package beside the standard library's)
from bench.scratch_db import ScratchDatabase  # noqa: E402

DB_NAME = "hp_bench"
SCRATCH = ScratchDatabase(DB_NAME, "redis://127.0.0.1:6379/13")
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


GUNICORN_CONFIG = ROOT / "platform" / "gunicorn.conf.py"


def server_tuning(args: argparse.Namespace) -> dict[str, str]:
    """``--worker-class``, ``--workers`` and ``--threads`` as the gunicorn config's variables."""
    tuning = {"WEB_WORKER_CLASS": args.worker_class, "WEB_WORKERS": args.workers, "WEB_THREADS": args.threads}
    return {name: str(value) for name, value in tuning.items() if value is not None}


def effective_config(env: dict[str, str]) -> dict:
    """The values the gunicorn config file gives under ``env`` (what the server will run with)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return runpy.run_path(str(GUNICORN_CONFIG))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """gunicorn with the production configuration (``platform/gunicorn.conf.py``), in its own process group."""
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        f"--config={GUNICORN_CONFIG}",
        "platform.wsgi:application",
        f"--bind={HOST}:{port}",
        "--log-level=warning",
    ]
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


async def wait_ready(port: int, process: subprocess.Popen, log: Path, workers: int) -> None:
    """Until /health/ answers; then warm every worker (its first request imports the URL configuration)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}: {log.read_text()[-3000:]}")
        probe = Connection(HOST, port, timeout_s=5)
        try:
            if (await probe.get("/health/")).status_code == 200:
                break
        except (TimeoutError, OSError, asyncio.IncompleteReadError):  # not listening yet
            pass
        finally:
            await probe.close()
        await asyncio.sleep(0.5)
    else:
        raise SystemExit(f"gunicorn did not answer /health/ within 180 s: {log.read_text()[-3000:]}")
    warmers = [Connection(HOST, port) for _ in range(4 * workers)]
    for _ in range(3):
        await asyncio.gather(*(c.get("/health/") for c in warmers))
    await asyncio.gather(*(c.close() for c in warmers))


# --------------------------------------------------------------------------- HTTP client


class Reply:
    """One HTTP response: status, headers (lower-case names) and body."""

    def __init__(self, status_code: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code, self.headers, self.body = status_code, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class Connection:
    """One HTTP/1.1 connection over TCP, kept alive while the server allows (as a browser keeps one).

    A few dozen lines on asyncio streams instead of a general client library: the load generator shares the
    machine's cores with the server, and a general async client spent about as much CPU per request as the
    server did (measured), so the benchmark measured its own client. This one parses what a WSGI server
    sends (a status line, headers, a Content-Length or chunked body) and reconnects when the server closes.
    """

    def __init__(self, host: str, port: int, timeout_s: float = 120.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body=None
    ) -> Reply:
        return await asyncio.wait_for(self._request(method, path, headers or {}, body), self.timeout_s)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", path, headers)

    async def post(self, path: str, json_body=None, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("POST", path, headers, json_body)

    async def _request(self, method: str, path: str, headers: dict[str, str], body) -> Reply:
        data = b"" if body is None else json.dumps(body).encode()
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(data)}",
        ]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        reused = self.writer is not None
        try:
            reply = await self._exchange(message)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as error:
            # A kept-alive connection the server closed while idle (a worker replaced after max_requests):
            # nothing of the request was answered, so it is sent once more on a new connection, as browsers do.
            await self.close()
            answered = isinstance(error, asyncio.IncompleteReadError) and error.partial
            if not reused or answered:
                raise
            reply = await self._exchange(message)
        if reply.headers.get("connection", "").lower() == "close":
            await self.close()
        return reply

    async def _exchange(self, message: bytes) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(message)
        return await self._read_reply()

    async def _read_reply(self) -> Reply:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunks()
        else:  # the server ends the body by closing the connection
            body = await self.reader.read()
            headers["connection"] = "close"
        return Reply(status, headers, body)

    async def _read_chunks(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        await self.reader.readuntil(b"\r\n")  # no trailers are sent
        return b"".join(parts)


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

    def __init__(self, port: int, project: str, user_id: int, token: str, record: Record) -> None:
        self.client = Connection(HOST, port)
        self.project, self.user_id, self.record = project, user_id, record
        self.headers = {"Authorization": f"Token {token}"}

    async def next_task(self) -> dict | None | bool:
        """The leased task, None when nothing is left, False when the server says to ask again."""
        url = f"/api/projects/{self.project}/tasks/next/"
        reply = await self.record.timed("next", self.client.post(url, None, self.headers))
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
        reply = await self.record.timed("submit", self.client.post(url, payload, self.headers))
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
        await self.client.close()

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
        await self.client.close()


async def probe_health(port: int, record: Record, stop: asyncio.Event, every_s: float = 0.1) -> None:
    """GET /health/ through the same server during the run: the floor next-task is compared with."""
    client = Connection(HOST, port)
    while not stop.is_set():
        reply = await record.timed("health", client.get("/health/"))
        if reply.status_code != 200:
            record.failures[f"health {reply.status_code}"] += 1
        await asyncio.sleep(every_s)
    await client.close()


async def run_closed_loop(port: int, project: str, people: list[tuple[int, str]]) -> tuple[Record, float]:
    record = Record()
    stop = asyncio.Event()
    probe = asyncio.create_task(probe_health(port, record, stop))
    t0 = time.perf_counter()
    await asyncio.gather(*(Annotator(port, project, u, t, record).closed_loop() for u, t in people))
    elapsed = time.perf_counter() - t0
    stop.set()
    await probe
    return record, elapsed


async def run_think_time(
    port: int, project: str, people: list[tuple[int, str]], think_s: float, duration_s: float
) -> tuple[Record, float]:
    record = Record()
    stop = asyncio.Event()
    probe = asyncio.create_task(probe_health(port, record, stop, every_s=0.5))
    t0 = time.perf_counter()
    deadline = time.monotonic() + duration_s
    await asyncio.gather(
        *(Annotator(port, project, u, t, record).thinking(think_s, deadline) for u, t in people)
    )
    elapsed = time.perf_counter() - t0
    stop.set()
    await probe
    return record, elapsed


# --------------------------------------------------------------------------- CPU accounting


def _cpu_s(pid: int, reaped_children: bool = False) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone), from /proc; with
    ``reaped_children``, also those of its children that exited and were waited for (replaced workers)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(f) for f in fields[11 : 15 if reaped_children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _database_backends(own: int) -> list[int]:
    """PostgreSQL server processes serving the bench database (their title names it), except ``own``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != own:
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and f" {DB_NAME} ".encode() in title:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds spent during a run by the load client (this process), gunicorn and PostgreSQL.

    All three share the machine's cores, so requests/s is bounded by their sum; printing each part shows
    whether a run measured the server or its client. gunicorn counts its master, its workers and replaced
    workers; PostgreSQL the backends of ``hp_bench`` (sampled every half second, since a backend whose
    connection reached its maximum age ends during the run), other databases excluded.
    """

    def __init__(self, server_pid: int) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.own_backend = cursor.fetchone()[0]
        self.server_pid = server_pid
        self.database_start: dict[int, float] = {}
        self.database_last: dict[int, float] = {}
        self.stop = threading.Event()

    def _server_cpu(self) -> float:
        workers = _children(self.server_pid)
        return _cpu_s(self.server_pid, reaped_children=True) + sum(_cpu_s(pid) for pid in workers)

    def _sample_database(self) -> None:
        for pid in _database_backends(self.own_backend):
            cpu = _cpu_s(pid)
            self.database_last[pid] = max(cpu, self.database_last.get(pid, 0.0))

    def _sampling(self) -> None:
        while not self.stop.wait(0.5):
            self._sample_database()

    def __enter__(self) -> CpuMeter:
        self._sample_database()
        self.database_start = dict(self.database_last)
        self.client_start, self.server_start = time.process_time(), self._server_cpu()
        self.sampler = threading.Thread(target=self._sampling, daemon=True)
        self.sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self.client_s = time.process_time() - self.client_start
        self.server_s = self._server_cpu() - self.server_start
        self.stop.set()
        self.sampler.join()
        self._sample_database()
        self.database_s = sum(
            cpu - self.database_start.get(pid, 0.0) for pid, cpu in self.database_last.items()
        )

    def describe(self, requests: int) -> str:
        per = 1000 / max(requests, 1)
        return (
            f"  CPU per request: client {self.client_s * per:.2f} ms, gunicorn {self.server_s * per:.2f} ms, "
            f"PostgreSQL {self.database_s * per:.2f} ms"
        )


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
    parser.add_argument("--worker-class", choices=["gthread", "sync"], help="default: the gunicorn config's")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the gunicorn config's)")
    parser.add_argument("--threads", type=int, help="threads per gthread worker (default: the config's)")
    parser.add_argument("--keep-db", action="store_true", help="leave hp_bench for inspection")
    args = parser.parse_args()
    for name in ("annotators", "instances", "overlap", "think_duration"):
        bounded(name, getattr(args, name))
    bounded("annotators", args.think_annotators)
    if not 0 <= args.think_seconds <= 60:
        raise SystemExit(f"--think-seconds must be between 0 and 60, got {args.think_seconds}")
    for name in ("workers", "threads"):
        if getattr(args, name) is not None and not 1 <= getattr(args, name) <= 64:
            raise SystemExit(f"--{name} must be between 1 and 64, got {getattr(args, name)}")
    return args


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="hybridpref-bench-web-"))
    env = SCRATCH.environment(data_dir)
    os.environ.update(env)
    SCRATCH.recreate()
    setup_django()
    port = free_port()
    log = data_dir / "gunicorn.log"
    env.update(server_tuning(args))
    server = start_gunicorn(env, port, log)
    try:
        run(args, port, server, log, effective_config(env))
    finally:
        stop_gunicorn(server)
        if not args.keep_db:
            connections.close_all()
            SCRATCH.drop()
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, port: int, server: subprocess.Popen, log: Path, conf: dict) -> None:
    threads = f" x {conf['threads']} threads" if conf["worker_class"] == "gthread" else ""
    print(
        f"gunicorn {conf['workers']} {conf['worker_class']} workers{threads} on PostgreSQL ({DB_NAME}) + Redis, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    project = create_project("bench", args.instances, args.overlap)
    people = create_annotators(project, max(args.annotators, args.think_annotators))

    asyncio.run(wait_ready(port, server, log, conf["workers"]))
    print(f"closed loop: {args.annotators} annotators, {args.instances} instances x overlap {args.overlap}")
    with CpuMeter(server.pid) as closed_cpu:
        closed, closed_s = asyncio.run(run_closed_loop(port, project.name, people[: args.annotators]))
    closed_problems = integrity(project, closed, complete=True)
    print("\n".join(describe(closed, closed_s)))
    print(closed_cpu.describe(closed.requests))
    print(f"  integrity: {verdict(closed_problems)}", flush=True)

    think_project = create_project("bench-think", args.instances, args.overlap)
    think_people = create_annotators(think_project, args.think_annotators)
    print(
        f"think time: {args.think_annotators} annotators, {args.think_seconds:g} s per task, "
        f"{args.think_duration} s"
    )
    with CpuMeter(server.pid) as think_cpu:
        think, think_s = asyncio.run(
            run_think_time(port, think_project.name, think_people, args.think_seconds, args.think_duration)
        )
    think_problems = integrity(think_project, think, complete=False)
    print("\n".join(describe(think, think_s)))
    print(think_cpu.describe(think.requests))
    print(f"  integrity: {verdict(think_problems)}")

    next_p50, health_p50 = ms(closed.latency["next"], 50), ms(closed.latency["health"], 50)
    print(
        f"web: {closed.requests / closed_s:.0f} req/s closed-loop; next-task p50 {next_p50:.1f} ms = "
        f"{next_p50 / health_p50:.1f}x health; think-time p95 next {ms(think.latency['next'], 95):.0f} ms, "
        f"submit {ms(think.latency['submit'], 95):.0f} ms; integrity {verdict(closed_problems + think_problems)}"
    )


if __name__ == "__main__":
    main()
