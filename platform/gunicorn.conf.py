"""gunicorn settings, used wherever the web server starts (scripts/scale_out.sh, docker/, bench/web.py):
``gunicorn -c platform/gunicorn.conf.py platform.wsgi:application --bind HOST:PORT``.

Each value can be changed through the environment, so one machine's tuning needs no code change:

- ``WEB_WORKER_CLASS`` (``gthread``): threaded workers keep HTTP/1.1 connections alive between an
  annotator's requests (sync workers close every connection) and overlap one request's database waits with
  another request's Python work;
- ``WEB_WORKERS`` (two per CPU core) with ``WEB_THREADS`` (2) each: a request is mostly CPU-bound Python
  with a few database round trips, so a few requests per core in flight keep the cores busy, and few threads
  per process keep them from queueing on one interpreter lock;
- ``WEB_KEEPALIVE`` (75 s): how long an idle connection is kept; behind a proxy keep it above the proxy's
  idle timeout;
- ``WEB_TIMEOUT`` (120 s), ``WEB_MAX_REQUESTS`` (20000, with 10% jitter: a worker is replaced after that many
  requests, which bounds any slow memory growth), ``WEB_BACKLOG`` (2048 pending connections).

docs/DEPLOYMENT.md ("Web server") has the measurements behind these defaults.
"""

from __future__ import annotations

import os


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SystemExit(f"{name} must be a whole number, got {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise SystemExit(f"{name} must be between {low} and {high}, got {value}")
    return value


worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
if worker_class not in ("gthread", "sync"):
    raise SystemExit(f"WEB_WORKER_CLASS must be gthread or sync, got {worker_class!r}")
workers = _int("WEB_WORKERS", 2 * (os.cpu_count() or 1), 1, 64)
threads = _int("WEB_THREADS", 2, 1, 64)
keepalive = _int("WEB_KEEPALIVE", 75, 0, 3600)
timeout = _int("WEB_TIMEOUT", 120, 1, 3600)
max_requests = _int("WEB_MAX_REQUESTS", 20_000, 0, 10_000_000)
max_requests_jitter = max_requests // 10
backlog = _int("WEB_BACKLOG", 2048, 1, 65535)
# The application is imported once in the master and forked: a worker replaced after max_requests starts at
# once, instead of importing Django again (about a second of CPU) while requests wait.
preload_app = True
