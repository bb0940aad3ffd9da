"""Compute the 9 textual tags of a project's instances (resumable), tracked by an annotation Job."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from annotation.models import Job
from annotation.progress import progress_bar
from routing.app.management.commands._common import get_project
from routing.app.tasks import TAGS_JOB, compute_tags_task, run_tags_job


class Command(BaseCommand):
    help = "Compute textual tags for every instance of a project that lacks them (Celery queue 'tags')."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project")
        parser.add_argument("--mode", choices=["recommended", "paper"], default="recommended")
        parser.add_argument("--chunk-size", type=int, default=256)
        parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
        parser.add_argument(
            "--enqueue", action="store_true", help="Send to the Celery 'tags' queue, do not wait."
        )

    def handle(self, *args, **opts) -> None:
        project = get_project(opts["project"])
        params = {"mode": opts["mode"], "chunk_size": opts["chunk_size"], "device": opts["device"]}
        job = Job.objects.create(kind=TAGS_JOB, project=project, params=params)
        if opts["enqueue"]:
            job.enqueue(compute_tags_task)
            self.stdout.write(f"job {job.pk} queued on 'tags'")
            return
        with progress_bar("textual tags", unit="instance", verbosity=opts["verbosity"]):
            result = run_tags_job(job.pk)
        self.stdout.write(
            f"job {job.pk}: {result['computed']} of {result['instances']} instances tagged "
            f"(the rest were already stored)"
        )
