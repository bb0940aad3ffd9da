"""manage.py train_reward_model <project> --dataset-version NAME [--loss bt] [--sync] [--resume RUN_ID]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.datasets.models import DatasetVersion
from routing.training_runs.execution import execute_job
from routing.training_runs.launch import resume, start_reward_model_run
from routing.training_runs.management.commands._common import get_project
from routing.training_runs.models import RewardModelRun
from routing.training_runs.records import TrainingError


class Command(BaseCommand):
    help = "Train a reward model on a dataset version (queued on gpu when a GPU worker exists, else default)."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("--dataset-version")
        parser.add_argument("--loss", default="bt", choices=["bt", "margin_bt", "scaled_bt", "regression"])
        parser.add_argument("--kind", default="transformer", choices=["transformer", "proxy"])
        parser.add_argument("--backbone", default="", help="local model directory (blank: MiniLM)")
        parser.add_argument("--max-steps", type=int)
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--max-length", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--eval-file")
        parser.add_argument("--eval-limit-per-subset", type=int)
        parser.add_argument("--sync", action="store_true", help="run in this process instead of queueing")
        parser.add_argument(
            "--resume", type=int, metavar="RUN_ID", help="resume / rerun a crashed or failed run"
        )

    def handle(self, *args, **o):
        project = get_project(o["project"])
        execute_here = execute_job if o["sync"] else None
        try:
            if o["resume"]:
                run = RewardModelRun.objects.get(pk=o["resume"], project=project)
                resume(run, execute_here)
            else:
                version = DatasetVersion.objects.filter(project=project, name=o["dataset_version"]).first()
                if version is None:
                    raise CommandError(
                        f"--dataset-version: {o['dataset_version']!r} not found in {project.name!r}"
                    )
                hyper = {
                    k: o[k]
                    for k in (
                        "max_steps",
                        "batch_size",
                        "max_length",
                        "lr",
                        "seed",
                        "eval_file",
                        "eval_limit_per_subset",
                    )
                    if o[k] is not None
                }
                run = start_reward_model_run(
                    project,
                    version,
                    loss=o["loss"],
                    kind=o["kind"],
                    backbone=o["backbone"],
                    hyperparameters=hyper,
                    execute_here=execute_here,
                )
        except (TrainingError, RewardModelRun.DoesNotExist) as exc:
            raise CommandError(str(exc)) from exc
        run.refresh_from_db()
        self.stdout.write(f"reward model run #{run.pk}: {run.status} (queue {run.queue})")
        if run.metrics:
            self.stdout.write(json.dumps({k: v for k, v in run.metrics.items() if k != "training"}, indent=1))
        if run.error:
            self.stderr.write(run.error)
