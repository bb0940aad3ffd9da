"""``manage.py setup_demo``: the demo projects, and demo logins.

Two small projects over the 12 sample prompts we ship (one per annotation scheme), and ``demo-routing``:
1,000 generated instances (``annotation.demo.generator``: categories, three simulated annotators each, an LM
judge asked in both orders whose errors sit on long and safety-related pairs). For that project the command
queues one PPM loop that first computes the missing textual tags, so the demo's worker fills in the budget
curve in the background at first start (the routing page shows the job's progress meanwhile); a later run
queues nothing while a loop is pending or has succeeded.

Passwords are random and new on every run (printed once, and written to the data directory), so a demo
never runs with credentials that are in the repository.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation.core.schemes import HELPSTEER2, MULTIPREF, default_scheme_config
from annotation.demo.generator import JUDGE, DemoSpec, write_jsonl
from annotation.importing.writer import import_file
from annotation.models import Project, ProjectMembership, Role, UserProfile
from annotation.workflow.demo import load_demo_qualification
from annotation.workflow.queue import add_to_queue
from routing.training_runs.launch import start_ppm_loop
from routing.training_runs.models import PPMLoopRun, Status

SAMPLE = Path(__file__).resolve().parents[3] / "annotation" / "demo" / "sample_instances.jsonl"
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

ROUTING_PROJECT = (
    "demo-routing",
    "1,000 generated instances (annotation/demo/generator.py): tags, the PPM loop and the budget curve.",
)
ROUTING_LOOP_K = 100  # candidate mixes: enough for a smooth curve, a few minutes on two CPU cores


class Command(BaseCommand):
    help = "Create (or refresh) the demo project and demo users; prints the logins."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            projects = []
            for name, kind, description in DEMO_PROJECTS:
                project, _ = Project.objects.get_or_create(
                    name=name,
                    # Overlap 1 + 1 so that the two demo annotators are enough to finish an instance.
                    defaults={
                        "description": description,
                        "scheme": default_scheme_config(kind),
                        "overlap": {"normal": 1, "expert": 1},
                    },
                )
                report = import_file(project, SAMPLE, on_existing="update")
                self.stdout.write(
                    f"Demo project {name!r}: {report.records} instances ({report.created} new)."
                )
                self._send_to_people(project)
                projects.append(project)
            routing_project = self._routing_project()
            projects.append(routing_project)
            logins = [self._user(projects, *spec) for spec in DEMO_USERS]
        self._queue_ppm_loop(routing_project)
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

    def _routing_project(self) -> Project:
        """The generated 1,000-instance project (the file is regenerated: same seed, same content)."""
        name, description = ROUTING_PROJECT
        project, _ = Project.objects.get_or_create(
            name=name,
            defaults={
                "description": description,
                "scheme": default_scheme_config(MULTIPREF),
                "overlap": {"normal": 1, "expert": 1},
                "human_budget_fraction": 0.25,
            },
        )
        path = write_jsonl(Path(settings.DATA_DIR) / "demo" / f"{name}.jsonl", DemoSpec())
        report = import_file(project, path, on_existing="update")
        self.stdout.write(
            f"Demo project {name!r}: {report.records} generated instances ({report.created} new)."
        )
        load_demo_qualification(project)
        return project

    def _queue_ppm_loop(self, project: Project) -> None:
        """Queue tags + the PPM loop for the worker, unless a loop is pending (queued) or has succeeded."""
        latest = PPMLoopRun.objects.filter(project=project).order_by("-id").first()
        if latest is not None and latest.status in (Status.PENDING, Status.SUCCEEDED):
            self.stdout.write(
                f"PPM loop #{latest.pk} of {project.name!r} is {latest.status}; nothing queued."
            )
            return
        loop = start_ppm_loop(project, JUDGE, k=ROUTING_LOOP_K, compute_tags=True)
        self.stdout.write(
            f"Queued PPM loop #{loop.pk} for {project.name!r} (tags first): the worker draws its budget curve "
            f"in a few minutes; follow it at /projects/{project.name}/routing/."
        )

    def _send_to_people(self, project: Project) -> None:
        """Qualification items, and every sample instance queued for people (no routing run in the demo)."""
        load_demo_qualification(project)
        add_to_queue(project, list(project.instances.all()))
