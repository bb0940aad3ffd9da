"""Repair a project's quota counters and progress counters from its assignments (docs/WORKFLOW.md)."""

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.workflow import progress
from annotation.workflow.queue import instances_for_people
from annotation.workflow.quota import ensure_quota_rows, rebuild_quota_state
from annotation.workflow.settings_store import settings_for


class Command(BaseCommand):
    help = (
        "Recompute a project's quota counters (slots taken per tier, swapped order) and its progress "
        "counters (submitted answers per instance and tier, complete instances) from its assignments. "
        "Run it after changing the project's overlap, too."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="the project's name")

    def handle(self, *args, project: str, **options) -> None:
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        wrong = rebuild_quota_state(found)
        self.stdout.write(f"{wrong} quota rows of {project} were wrong and are now recounted")
        source = instances_for_people(found)
        made = ensure_quota_rows(found, source.instances.values_list("pk", flat=True).iterator())
        rows, shards = progress.rebuild(found, source.key, source.instances)
        conf = settings_for(found)
        conf.quota_rows_for = source.key  # every row of the source exists now: next-task need not sync
        conf.save(update_fields=["quota_rows_for"])
        self.stdout.write(f"{made} quota rows of {project} were missing and are now made")
        self.stdout.write(
            f"{rows} progress rows of {project} were missing or wrong and {shards} progress counter shards "
            f"were wrong; all are now recounted"
        )
