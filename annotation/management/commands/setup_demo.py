"""``manage.py setup_demo``: a demo project from the sample data we ship, and demo logins.

Passwords are random and new on every run (printed once, and written to the data directory), so a demo
never runs with credentials that are in the repository.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation.core.schemes import HELPSTEER2, MULTIPREF, default_scheme_config
from annotation.importing.writer import import_file
from annotation.models import Project, ProjectMembership, Role, UserProfile

SAMPLE = Path(__file__).resolve().parents[2] / "demo" / "sample_instances.jsonl"
DEMO_USERS = [
    ("demo-admin", Role.ADMIN, None),
    ("demo-researcher", Role.RESEARCHER, "researcher"),
    ("demo-annotator", Role.ANNOTATOR, "annotator"),
    ("demo-expert", Role.ANNOTATOR, "annotator"),
]
# One demo project per annotation scheme, over the same sample instances.
DEMO_PROJECTS = [
    ("demo", MULTIPREF, "Sample prompts, MultiPref scheme (5-point preference per aspect, reasons)."),
    (
        "demo-helpsteer2",
        HELPSTEER2,
        "The same prompts, HelpSteer2 scheme (0-4 ratings, 7-option preference).",
    ),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo project and demo users; prints the logins."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            projects = []
            for name, kind, description in DEMO_PROJECTS:
                project, _ = Project.objects.get_or_create(
                    name=name,
                    # Overlap 1 + 1 so that the two demo annotators are enough to finish an instance.
                    defaults={"description": description, "scheme": default_scheme_config(kind),
                              "overlap": {"normal": 1, "expert": 1}},
                )  # fmt: skip
                report = import_file(project, SAMPLE, on_existing="update")
                self.stdout.write(
                    f"Demo project {name!r}: {report.records} instances ({report.created} new)."
                )
                self._send_to_people(project)
                projects.append(project)
            logins = [self._user(projects, *spec) for spec in DEMO_USERS]
        lines = [f"  {name:16} {password:24} ({role})" for name, password, role in logins]
        path = Path(settings.DATA_DIR) / "demo-logins.txt"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        self.stdout.write(f"Demo logins (new passwords on every setup; also in {path}):\n" + "\n".join(lines))

    def _user(
        self, projects: list[Project], name: str, role: str, project_role: str | None
    ) -> tuple[str, str, str]:
        user, _ = User.objects.get_or_create(username=name)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff = user.is_superuser = role == Role.ADMIN
        user.save()
        UserProfile.objects.update_or_create(
            user=user,
            defaults={"role": role, "expert_domains": ["Natural sciences"] if name == "demo-expert" else []},
        )
        for project in projects if project_role else []:
            ProjectMembership.objects.update_or_create(
                project=project, user=user, defaults={"role": project_role}
            )
        return name, password, role

    def _send_to_people(self, project: Project) -> None:
        """Qualification items, and every sample instance queued for people (no routing run in the demo)."""
        if not apps.is_installed("annotation.workflow"):
            return
        from annotation.workflow.demo import load_demo_qualification
        from annotation.workflow.queue import add_to_queue

        load_demo_qualification(project)
        add_to_queue(project, list(project.instances.all()))
