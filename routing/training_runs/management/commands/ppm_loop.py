"""manage.py ppm_loop <project> [--lm-judge gpt-3.5-turbo] [--k 200] [--eval-file rm-eval.jsonl] [--compute-tags]
[--sync]

Tags come from stored routing.TagValue rows (``manage.py compute_tags <project>``, or --compute-tags here);
each fitted PPM is stored as a routing.PPMArtifact named ppm-loop-<run>-<target> for ``manage.py route --ppm``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.progress import progress_bar
from routing.training_runs.execution import execute_job
from routing.training_runs.launch import start_ppm_loop
from routing.training_runs.management.commands._common import get_project
from routing.training_runs.records import TrainingError


class Command(BaseCommand):
    help = "Run the PPM training loop on the proxy reward model (candidates, labels, train, measure, fit)."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("--lm-judge", default="gpt-3.5-turbo")
        parser.add_argument("--k", type=int, default=200)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--eval-file")
        parser.add_argument(
            "--compute-tags", action="store_true", help="compute missing textual tags first (else: fail)"
        )
        parser.add_argument("--sync", action="store_true")

    def handle(self, *args, **o):
        # With --sync the loop runs here: its job's progress moves a bar.
        with progress_bar("PPM loop", verbosity=o["verbosity"] if o["sync"] else 0):
            self._start(o)

    def _start(self, o: dict) -> None:
        project = get_project(o["project"])
        try:
            run = start_ppm_loop(
                project,
                o["lm_judge"],
                k=o["k"],
                seed=o["seed"],
                eval_file=o["eval_file"],
                compute_tags=o["compute_tags"],
                execute_here=execute_job if o["sync"] else None,
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"PPM loop #{run.pk}: {run.status}")
        self.stdout.write(run.logs)
        if run.error:
            raise CommandError(run.error)
