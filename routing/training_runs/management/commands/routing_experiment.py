"""manage.py routing_experiment <project> [--seeds 0 1 2] [--budgets .25 .5 .75] [--eval-file F] [--sync]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from routing.experiment import STRATEGIES
from routing.training_runs.execution import execute_job
from routing.training_runs.launch import start_routing_experiment
from routing.training_runs.management.commands._common import get_project
from routing.training_runs.records import TrainingError


class Command(BaseCommand):
    help = (
        "Reward models for 100% human, 100% LM, random and routed mixes, random-label control; table + plot."
    )

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("--lm-judge", default="gpt-3.5-turbo")
        parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        parser.add_argument("--budgets", type=float, nargs="+", default=[0.25, 0.5, 0.75])
        parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
        parser.add_argument("--k", type=int, default=200)
        parser.add_argument("--eval-file")
        parser.add_argument(
            "--compute-tags", action="store_true", help="compute missing textual tags first (else: fail)"
        )
        parser.add_argument("--sync", action="store_true")

    def handle(self, *args, **o):
        project = get_project(o["project"])
        params = {"seeds": o["seeds"], "budgets": o["budgets"], "strategies": o["strategies"], "k": o["k"]}
        if o["eval_file"]:
            params["eval_file"] = o["eval_file"]
        if o["compute_tags"]:
            params["compute_tags"] = True
        try:
            run = start_routing_experiment(
                project, o["lm_judge"], params=params, execute_here=execute_job if o["sync"] else None
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"routing experiment #{run.pk}: {run.status}")
        self.stdout.write(run.logs)
        if run.plot_path:
            self.stdout.write(f"plot: {run.plot_path}")
        if run.error:
            raise CommandError(run.error)
