"""Repair a project's per-instance quota counters from its assignments (docs/WORKFLOW.md)."""

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.workflow.quota import rebuild_quota_state


class Command(BaseCommand):
    help = "Recompute a project's quota counters (slots taken per tier, swapped order) from its assignments."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="the project's name")

    def handle(self, *args, project: str, **options) -> None:
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        wrong = rebuild_quota_state(found)
        self.stdout.write(f"{wrong} quota rows of {project} were wrong and are now recounted")
