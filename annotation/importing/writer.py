"""Write mapped records into a project, all or nothing.

The whole import runs in one transaction: any error rolls everything back, so a failed import leaves the
database as it was. Records are read, checked and written in batches, so memory stays flat on large files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from annotation.importing.errors import DatasetImportError
from annotation.importing.mapping import MappedInstance, RecordMapper
from annotation.importing.readers import ReadPosition, detect_format, iter_records
from annotation.models import HumanLabel, Instance, LabelSource, LMLabel, Project

BATCH_SIZE = 500
ON_EXISTING = ("refuse", "skip", "update")
ProgressCallback = Callable[[int, ReadPosition], None]


@dataclass
class ImportReport:
    file: str
    format: str
    on_existing: str
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    human_votes: int = 0
    lm_labels: int = 0
    notes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        lines = [
            f"{self.file} ({self.format}): {self.records} records read.",
            f"Wrote {self.created} new instances, updated {self.updated}, with {self.human_votes} human votes "
            f"and {self.lm_labels} LM labels.",
        ]
        if self.unchanged:
            lines.append(
                f"{self.unchanged} instances were already in the project with the same content and labels: "
                "left as they were."
            )
        if self.skipped:
            lines.append(f"{self.skipped} instances already existed and were skipped (--on-existing=skip).")
        lines += [f"  {name}: {count}" for name, count in sorted(self.notes.items())]
        return "\n".join(lines)


def import_file(
    project: Project,
    path: Path,
    *,
    fmt: str | None = None,
    on_existing: str = "refuse",
    progress: ProgressCallback | None = None,
    display_name: str | None = None,
    on_success: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``path`` into ``project``. ``on_success`` runs inside the transaction (e.g. to mark a job done,
    so that the job's status and the data commit together)."""
    if on_existing not in ON_EXISTING:
        raise DatasetImportError(f"on_existing must be one of {ON_EXISTING}, got {on_existing!r}")
    name = display_name or path.name
    if not path.is_file():
        raise DatasetImportError("no such file", file=name)
    fmt = detect_format(path, fmt)
    report = ImportReport(file=name, format=fmt, on_existing=on_existing)
    mapper = RecordMapper(name)
    position = ReadPosition()
    with transaction.atomic():
        _Importer(project, report, mapper, on_existing).run(
            iter_records(path, fmt, position), position, progress
        )
        report.notes = dict(mapper.notes)
        if on_success:
            on_success(report)
    return report


class _Importer:
    def __init__(self, project: Project, report: ImportReport, mapper: RecordMapper, on_existing: str):
        self.project, self.report, self.mapper, self.on_existing = project, report, mapper, on_existing
        self.seen: dict[str, str] = {}
        self.conflict_count = 0
        self.conflict_examples: list[str] = []

    def run(self, records, position: ReadPosition, progress: ProgressCallback | None) -> None:
        batch: list[MappedInstance] = []
        for location, record in records:
            mapped = self.mapper.map(location, record)
            first = self.seen.setdefault(mapped.external_id, location)
            if first != location:
                raise self.mapper.error(
                    location, "id", f"duplicate id {mapped.external_id!r} (first at {first})"
                )
            batch.append(mapped)
            self.report.records += 1
            if len(batch) >= BATCH_SIZE:
                self._write(batch)
                batch = []
                if progress:
                    progress(self.report.records, position)
        if batch:
            self._write(batch)
        if progress:
            progress(self.report.records, position)
        if self.conflict_count:
            raise DatasetImportError(
                f"refused: {self.conflict_count} instance ids already exist in project {self.project.name!r} with "
                f"different content or labels (first: {', '.join(self.conflict_examples)}). Nothing was written. Re-run with "
                "--on-existing=update to update them, or --on-existing=skip to keep the stored versions.",
                file=self.report.file,
            )

    def _write(self, batch: list[MappedInstance]) -> None:
        existing = {
            instance.external_id: instance
            for instance in Instance.objects.filter(
                project=self.project, external_id__in=[m.external_id for m in batch]
            )
        }
        new = [m for m in batch if m.external_id not in existing]
        self._create(new)
        old = [m for m in batch if m.external_id in existing]
        if old:
            self._handle_existing(old, existing)

    def _create(self, mapped: list[MappedInstance]) -> None:
        instances = Instance.objects.bulk_create(
            [Instance(project=self.project, external_id=m.external_id, **m.fields()) for m in mapped]
        )
        if any(instance.pk is None for instance in instances):  # backends that do not return ids
            by_id = dict(
                Instance.objects.filter(
                    project=self.project, external_id__in=[m.external_id for m in mapped]
                ).values_list("external_id", "pk")
            )
            for instance in instances:
                instance.pk = by_id[instance.external_id]
        self._create_labels(zip(instances, mapped, strict=True))
        self.report.created += len(mapped)

    def _create_labels(self, pairs) -> None:
        humans, lms = [], []
        for instance, m in pairs:
            humans += [
                HumanLabel(instance=instance, annotator_ref=ref, preference=pref, source=LabelSource.IMPORTED)
                for ref, pref in m.human_votes
            ]
            lms += [
                LMLabel(instance=instance, judge=judge, preference=pref, source=LabelSource.IMPORTED)
                for judge, pref in m.lm_labels
            ]
        HumanLabel.objects.bulk_create(humans, batch_size=1000)
        LMLabel.objects.bulk_create(lms, batch_size=1000)
        self.report.human_votes += len(humans)
        self.report.lm_labels += len(lms)

    def _handle_existing(self, mapped: list[MappedInstance], existing: dict[str, Instance]) -> None:
        if self.on_existing == "skip":
            self.report.skipped += len(mapped)
            return
        stored_labels = self._imported_labels([existing[m.external_id].pk for m in mapped])
        changed = []
        for m in mapped:
            instance = existing[m.external_id]
            same_fields = all(getattr(instance, key) == value for key, value in m.fields().items())
            same_labels = stored_labels.get(instance.pk, (Counter(), Counter())) == (
                Counter(m.human_votes),
                Counter(m.lm_labels),
            )
            if same_fields and same_labels:
                self.report.unchanged += 1
            else:
                changed.append(m)
        if not changed:
            return
        if self.on_existing == "refuse":
            self.conflict_count += len(changed)
            examples = [f"{m.external_id!r} at {m.location}" for m in changed]
            self.conflict_examples += examples[: 3 - len(self.conflict_examples)]
            return
        self._update(changed, existing)

    def _imported_labels(self, pks: list[int]) -> dict[int, tuple[Counter, Counter]]:
        labels: dict[int, tuple[Counter, Counter]] = {}
        for instance_id, ref, pref in HumanLabel.objects.filter(
            instance_id__in=pks, source=LabelSource.IMPORTED
        ).values_list("instance_id", "annotator_ref", "preference"):
            labels.setdefault(instance_id, (Counter(), Counter()))[0][(ref, pref)] += 1
        for instance_id, judge, pref in LMLabel.objects.filter(
            instance_id__in=pks, source=LabelSource.IMPORTED
        ).values_list("instance_id", "judge", "preference"):
            labels.setdefault(instance_id, (Counter(), Counter()))[1][(judge, pref)] += 1
        return labels

    def _update(self, mapped: list[MappedInstance], existing: dict[str, Instance]) -> None:
        instances = []
        for m in mapped:
            instance = existing[m.external_id]
            for key, value in m.fields().items():
                setattr(instance, key, value)
            instances.append(instance)
        Instance.objects.bulk_update(instances, list(mapped[0].fields()), batch_size=500)
        pks = [i.pk for i in instances]
        # Imported labels are replaced; labels collected in the platform stay.
        HumanLabel.objects.filter(instance_id__in=pks, source=LabelSource.IMPORTED).delete()
        LMLabel.objects.filter(instance_id__in=pks, source=LabelSource.IMPORTED).delete()
        self._create_labels(zip(instances, mapped, strict=True))
        self.report.updated += len(mapped)
