"""``manage.py run_worker``: a Celery worker for this project's queues.

Going through manage.py (rather than the ``celery`` console script) makes sure the project's ``platform``
package is importable next to the standard-library module before Celery loads the app.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start a Celery worker (queues default, tags, judge by default; add gpu on a GPU machine)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--queues", default="default,tags,judge", help=f"Comma-separated, from {settings.CELERY_QUEUES}."
        )
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--loglevel", default="info")
        parser.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"])

    def handle(self, *args, **options) -> None:
        from platform.celery_app import app

        unknown = set(options["queues"].split(",")) - set(settings.CELERY_QUEUES)
        if unknown:
            self.stderr.write(f"unknown queues {sorted(unknown)}; known: {settings.CELERY_QUEUES}")
            raise SystemExit(2)
        argv = [
            "worker",
            f"--queues={options['queues']}",
            f"--concurrency={options['concurrency']}",
            f"--loglevel={options['loglevel']}",
            f"--pool={options['pool']}",
            "--without-mingle",
            "--without-gossip",
        ]
        app.worker_main(argv)
