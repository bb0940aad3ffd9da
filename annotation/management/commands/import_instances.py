"""``manage.py import_instances <project> <file>``: import a dataset (and the labels that come with it)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.importing import DatasetImportError
from annotation.importing.readers import FORMATS
from annotation.importing.writer import ON_EXISTING, ON_REPEATED_ANNOTATOR, import_file
from annotation.models import Project
from annotation.progress import progress_bar


class Command(BaseCommand):
    help = "Import instances (JSONL, JSON array, CSV or Parquet) into a project, creating it if needed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="Project name (created if it does not exist).")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMATS, help="Default: from the file extension.")
        parser.add_argument(
            "--on-existing",
            choices=ON_EXISTING,
            default="refuse",
            help="What to do with ids already in the project whose content differs (default: refuse). "
            "Identical re-imports always change nothing.",
        )
        parser.add_argument(
            "--on-repeated-annotator",
            choices=ON_REPEATED_ANNOTATOR,
            default="refuse",
            help="What to do when one annotator votes more than once on an item (default: refuse the file): "
            "keep their first vote, their last, or keep every vote as separate annotators (name#2...). "
            "The summary counts what was done.",
        )

    def handle(self, *args, **options) -> None:
        bar = progress_bar(f"import {options['file'].name}", unit="B", verbosity=options["verbosity"])
        try:
            # A project created here disappears again if the import fails.
            with bar as show, transaction.atomic():
                project, created = Project.objects.get_or_create(name=options["project"])
                report = import_file(
                    project,
                    options["file"],
                    fmt=options["format"],
                    on_existing=options["on_existing"],
                    on_repeated_annotator=options["on_repeated_annotator"],
                    progress=lambda records, at: show(at.bytes_read, at.total_bytes, f"{records} records"),
                )
        except DatasetImportError as error:
            raise CommandError(str(error)) from error
        if created:
            self.stdout.write(f"Created project {project.name!r}.")
        self.stdout.write(report.summary())
