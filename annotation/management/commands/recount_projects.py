"""``manage.py recount_projects [project ...]``: rebuild the maintained project counts from the tables."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project, recount


class Command(BaseCommand):
    help = (
        "Recount the instances and labels of projects (all when none is named) and repair the maintained "
        "counts the dashboard shows; says how many were wrong."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("projects", nargs="*", help="Project names (default: every project).")

    def handle(self, *args, **options) -> None:
        names = options["projects"]
        projects = Project.objects.filter(name__in=names) if names else Project.objects.all()
        missing = sorted(set(names) - set(projects.values_list("name", flat=True)))
        if missing:
            raise CommandError(f"no project named {', '.join(repr(m) for m in missing)}")
        for project in projects.order_by("name"):
            wrong = recount(project)
            self.stdout.write(
                f"{project.name}: {wrong} counts repaired" if wrong else f"{project.name}: counts exact"
            )
