"""``manage.py agreement_report <project>``: human, human-vs-LM, per-annotator and per-tag agreement."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.core.aggregation import METHODS
from annotation.datasets.report import agreement_report, format_report
from annotation.models import Project


class Command(BaseCommand):
    help = "Print the agreement report of a project (text, or JSON with --json)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="Project name.")
        parser.add_argument("--method", choices=METHODS, help="Aggregation method (default: the scheme's).")
        parser.add_argument(
            "--tag",
            action="append",
            dest="tags",
            help="Instance metadata key to break down by (repeatable; default category).",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named {options['project']!r}")
        report = agreement_report(project, method=options["method"], tag_keys=options["tags"])
        self.stdout.write(json.dumps(report, indent=2) if options["json"] else format_report(report))
