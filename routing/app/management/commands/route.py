"""Route a project's instances to people or the LM under a budget, and store the decisions."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from routing.app.management.commands._common import get_ppm, get_project, parse_budget
from routing.app.services import RoutingError, route_project
from routing.strategies import STRATEGIES


class Command(BaseCommand):
    help = "Route a project: --budget N|0.25 --strategy simulated|top_k|greedy|unlimited --ppm NAME."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project")
        parser.add_argument(
            "--budget", default=None, help="Count (250) or fraction (0.25); default: project's."
        )
        parser.add_argument("--strategy", choices=STRATEGIES, default="simulated")
        parser.add_argument("--ppm", required=True, help="PPM artifact name.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--k",
            type=int,
            help="simulated: number of candidates (default 20,000 Algorithm 1 fill candidates scored from counts).",
        )
        parser.add_argument("--options", help="More strategy options as JSON, e.g. '{\"steps\": 100}'.")
        parser.add_argument("--tagger-model", help="Use descriptive tags of this tagger model only.")

    def handle(self, *args, **opts) -> None:
        project = get_project(opts["project"])
        artifact = get_ppm(opts["ppm"])
        options = json.loads(opts["options"]) if opts["options"] else {}
        if opts["k"] is not None:
            options["k"] = opts["k"]
        if opts["budget"] is not None:
            budget = parse_budget(opts["budget"])
        elif project.human_budget is not None:
            budget = project.human_budget
        elif project.human_budget_fraction is not None:
            budget = float(project.human_budget_fraction)
        elif opts["strategy"] == "unlimited":
            budget = 0
        else:
            raise CommandError(f"project {project.name!r} has no human budget: pass --budget")
        try:
            run = route_project(
                project, artifact, budget, opts["strategy"], opts["seed"], options, opts["tagger_model"]
            )
        except (RoutingError, ValueError) as error:
            raise CommandError(str(error)) from error
        n = run.decisions.count()
        self.stdout.write(
            f"run {run.pk}: {run.strategy} routed {run.budget} of {n} instances to people, "
            f"predicted performance {run.predicted_performance:.4f} (PPM {artifact.name})"
        )
