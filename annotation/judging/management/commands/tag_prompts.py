"""``manage.py tag_prompts <project>``: descriptive tags and expert domain of every prompt (resumable)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.judging.management.commands._options import add_backend_arguments, backend_params
from annotation.judging.tasks import TAG_JOB, run_job, tag_prompts_task
from annotation.models import Job, Project
from annotation.progress import progress_bar
from models.lm.base import BackendError


class Command(BaseCommand):
    help = "Tag every prompt of a project on the descriptive dimensions (docs/METHOD.md) and expert domain."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project")
        add_backend_arguments(parser)
        parser.add_argument("--dimensions", help="Comma-separated subset of dimensions (default: all).")

    def handle(self, *args, **options) -> None:
        try:
            project = Project.objects.get(name=options["project"])
        except Project.DoesNotExist as error:
            raise CommandError(f"no project named {options['project']!r}") from error
        params = {
            **backend_params(options, {}),
            "batch_size": options.get("batch_size") or 8,
            "limit": options.get("limit"),
            "dimensions": options["dimensions"].split(",") if options.get("dimensions") else None,
        }
        job = Job.objects.create(kind=TAG_JOB, project=project, params=params)
        if options["enqueue"]:
            job.enqueue(tag_prompts_task)
            self.stdout.write(f"Queued tag job {job.pk} on queue 'judge'.")
            return
        try:
            with progress_bar("tag prompts", verbosity=options["verbosity"]):
                result = run_job(job.pk)
        except (BackendError, KeyError, ValueError) as error:
            raise CommandError(f"tag job {job.pk} failed: {error}") from error
        self.stdout.write(json.dumps(result, indent=2))
