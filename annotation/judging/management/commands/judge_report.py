"""``manage.py judge_report <project> [--judge NAME]``: LM labels against the human majority."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.judging.services import format_report, judge_report
from annotation.models import Project


class Command(BaseCommand):
    help = (
        "Agreement of LM labels with the human majority (non-tie items; a missing verdict is a disagreement) "
        "and both-orders consistency, overall and per category, with the judging cost."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("project")
        parser.add_argument("--judge", help="Only this judge (as stored on LMLabel.judge).")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options) -> None:
        try:
            project = Project.objects.get(name=options["project"])
        except Project.DoesNotExist as error:
            raise CommandError(f"no project named {options['project']!r}") from error
        reports = judge_report(project, judge=options.get("judge"))
        self.stdout.write(json.dumps(reports, indent=2) if options["json"] else format_report(reports))
