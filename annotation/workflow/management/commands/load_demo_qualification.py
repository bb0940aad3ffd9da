from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.workflow.demo import load_demo_qualification


class Command(BaseCommand):
    help = "Load the sample qualification test (10 items with obvious answers) into a project."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="the project's name")
        parser.add_argument("--replace", action="store_true", help="delete the project's items first")

    def handle(self, *args, project: str, replace: bool, **options) -> None:
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        created = load_demo_qualification(found, replace=replace)
        self.stdout.write(f"{created} qualification items created in {project}")
