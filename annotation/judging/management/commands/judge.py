"""``manage.py judge <project> [--backend ... --model ... --prompt ...]``: LM-judge a project in both orders."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.judging.management.commands._options import add_backend_arguments, backend_params
from annotation.judging.services import RunSummary
from annotation.judging.tasks import JUDGE_JOB, judge_project_task, run_job
from annotation.models import Job, Project
from annotation.progress import progress_bar
from models.lm.base import BackendError
from models.lm.prompts import TEMPLATES


class Command(BaseCommand):
    help = "Judge every instance of a project with an LM in both response orders (resumes where it stopped)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project")
        add_backend_arguments(parser)
        parser.add_argument(
            "--prompt", choices=sorted(TEMPLATES), help="Judge prompt (default multipref-overall)."
        )
        parser.add_argument(
            "--mode", choices=["generate", "score"], help="Default: score for local, else generate."
        )
        parser.add_argument("--disagreement", choices=["tie", "low_confidence"])

    def handle(self, *args, **options) -> None:
        try:
            project = Project.objects.get(name=options["project"])
        except Project.DoesNotExist as error:
            raise CommandError(f"no project named {options['project']!r}") from error
        decoding = {key: options[key] for key in ("prompt", "mode", "disagreement") if options.get(key)}
        params = {
            **backend_params(options, decoding),
            "batch_size": options.get("batch_size") or 16,
            "limit": options.get("limit"),
        }
        job = Job.objects.create(kind=JUDGE_JOB, project=project, params=params)
        if options["enqueue"]:
            job.enqueue(judge_project_task)
            self.stdout.write(f"Queued judge job {job.pk} on queue 'judge'.")
            return
        try:
            with progress_bar("judge", verbosity=options["verbosity"]):
                run_job(job.pk)
        except (BackendError, KeyError, ValueError) as error:
            raise CommandError(f"judge job {job.pk} failed: {error}") from error
        job.refresh_from_db()
        result = dict(job.result)
        result.pop("orders_per_second", None)
        self.stdout.write(RunSummary(**result).format())
