"""``manage.py export_dataset <project> <version>``: (optionally create and) export a dataset version."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.core.aggregation import METHODS
from annotation.datasets.exporting import FORMATS, FORMS, ExportError, export_version
from annotation.datasets.models import DatasetVersion
from annotation.datasets.services import DatasetBuildError, build_dataset_version
from annotation.datasets.tasks import EXPORT_JOB, export_dataset_task
from annotation.models import Job, Project
from annotation.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Export a dataset version (JSONL, Parquet, CSV, HF datasets folder) with a dataset card. With --create "
        "the version is assembled first (hybrid: human aggregate where routed to people, else the LM label)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("project")
        parser.add_argument("version", help="Dataset version name.")
        parser.add_argument(
            "--create", action="store_true", help="Assemble the version first (must not exist)."
        )
        parser.add_argument("--mode", choices=DatasetVersion.Mode.values, default=DatasetVersion.Mode.ROUTING)
        parser.add_argument("--routing-run", type=int, help="Routing run id (routing.RoutingRun).")
        parser.add_argument(
            "--human-ids",
            type=Path,
            help="File with one external instance id per line: the human-routed set.",
        )
        parser.add_argument("--judge", help="LM judge name (default: the project's only judge).")
        parser.add_argument("--prompt-version")
        parser.add_argument("--method", choices=METHODS)
        parser.add_argument("--format", action="append", dest="formats", choices=FORMATS, help="Repeatable.")
        parser.add_argument("--form", action="append", dest="forms", choices=FORMS, help="Repeatable.")
        parser.add_argument(
            "--out", type=Path, help="Output folder (default: EXPORT_DIR/<project>/<version>)."
        )
        parser.add_argument(
            "--async", action="store_true", dest="run_async", help="Queue a Celery task instead."
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named {options['project']!r}")
        version = self._version(project, options)
        formats = options["formats"] or list(FORMATS)
        forms = options["forms"] or list(FORMS)
        if options["run_async"]:
            job = Job.objects.create(
                kind=EXPORT_JOB,
                project=project,
                params={
                    "version": version.pk,
                    "version_name": version.name,
                    "formats": formats,
                    "forms": forms,
                },
            )
            job.enqueue(export_dataset_task)
            self.stdout.write(f"Queued export job {job.pk}.")
            return
        out = options["out"] or Path(settings.EXPORT_DIR) / project.name / version.name

        try:
            with progress_bar("export", unit="row", verbosity=options["verbosity"]) as progress:
                result = export_version(version, out, formats=formats, forms=forms, progress=progress)
        except ExportError as error:
            raise CommandError(str(error)) from error
        rows = ", ".join(f"{form} {n}" for form, n in result["rows"].items())
        self.stdout.write(f"Exported {project.name}/{version.name} to {result['dir']} ({rows} rows).")
        self.stdout.write(f"Archive: {result['archive']}")

    def _version(self, project: Project, options: dict) -> DatasetVersion:
        name = options["version"]
        if not options["create"]:
            version = DatasetVersion.objects.filter(project=project, name=name).first()
            if version is None:
                raise CommandError(f"project {project.name!r} has no dataset version {name!r} (use --create)")
            return version
        human_ids = None
        if options["human_ids"]:
            refs = [line.strip() for line in options["human_ids"].read_text().splitlines() if line.strip()]
            found = dict(project.instances.filter(external_id__in=refs).values_list("external_id", "pk"))
            missing = [r for r in refs if r not in found]
            if missing:
                raise CommandError(f"--human-ids: {len(missing)} ids not in the project, e.g. {missing[:3]}")
            human_ids = list(found.values())
        try:
            version = build_dataset_version(
                project,
                name,
                mode=options["mode"],
                routing_run=options["routing_run"],
                human_instance_ids=human_ids,
                judge=options["judge"],
                prompt_version=options["prompt_version"],
                method=options["method"],
            )
        except DatasetBuildError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Created dataset version {name!r}: {version.counts}")
        return version
