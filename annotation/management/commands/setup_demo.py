"""``manage.py setup_demo``: a demo project from the sample data we ship, and demo logins.

Passwords are random and new on every run (printed once, and written to the data directory), so a demo
never runs with credentials that are in the repository.
"""

from __future__ import annotations

import importlib
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation.importing.writer import import_file
from annotation.models import Project, ProjectMembership, Role, UserProfile

SAMPLE = Path(__file__).resolve().parents[2] / "demo" / "sample_instances.jsonl"
DEMO_USERS = [
    ("demo-admin", Role.ADMIN, None),
    ("demo-researcher", Role.RESEARCHER, "researcher"),
    ("demo-annotator", Role.ANNOTATOR, "annotator"),
    ("demo-expert", Role.ANNOTATOR, "annotator"),
]
# Optional sub-apps contribute demo content through a function ``setup_demo(project) -> str``.
DEMO_HOOKS = ["annotation.workflow.demo"]


class Command(BaseCommand):
    help = "Create (or refresh) the demo project and demo users; prints the logins."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            project, _ = Project.objects.get_or_create(
                name="demo", defaults={"description": "A small sample written for the HybridPref demo."}
            )
            report = import_file(project, SAMPLE, on_existing="update")
            logins = [self._user(project, *spec) for spec in DEMO_USERS]
            notes = self._hooks(project)
        self.stdout.write(f"Demo project 'demo': {report.records} instances ({report.created} new).")
        for note in notes:
            self.stdout.write(note)
        lines = [f"  {name:16} {password:24} ({role})" for name, password, role in logins]
        path = Path(settings.DATA_DIR) / "demo-logins.txt"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        self.stdout.write(f"Demo logins (new passwords on every setup; also in {path}):\n" + "\n".join(lines))

    def _user(self, project: Project, name: str, role: str, project_role: str | None) -> tuple[str, str, str]:
        user, _ = User.objects.get_or_create(username=name)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff = user.is_superuser = role == Role.ADMIN
        user.save()
        UserProfile.objects.update_or_create(
            user=user,
            defaults={"role": role, "expert_domains": ["Natural sciences"] if name == "demo-expert" else []},
        )
        if project_role:
            ProjectMembership.objects.update_or_create(
                project=project, user=user, defaults={"role": project_role}
            )
        return name, password, role

    def _hooks(self, project: Project) -> list[str]:
        notes = []
        for module_name in DEMO_HOOKS:
            app_module = module_name.rsplit(".", 1)[0]
            from django.apps import apps

            if not apps.is_installed(app_module):
                continue
            module = importlib.import_module(module_name)
            notes.append(module.setup_demo(project))
        return notes
