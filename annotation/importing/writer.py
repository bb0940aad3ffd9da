"""Write mapped records into a project, all or nothing.

The whole import runs in one transaction: any error rolls everything back, so a failed import leaves the
database as it was. Records are read, checked and written in batches, so memory stays flat on large files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotation.importing.errors import DatasetImportError
from annotation.importing.limits import ImportLimits
from annotation.importing.mapping import ON_REPEATED_ANNOTATOR, ImportedLMLabel, MappedInstance, RecordMapper
from annotation.importing.readers import ReadPosition, detect_format, iter_records
from annotation.importing.signals import ImportedOrderVerdict, order_verdicts_imported
from annotation.models import HumanLabel, Instance, LabelSource, LMLabel, Project

BATCH_SIZE = 500
ON_EXISTING = ("refuse", "skip", "update")
__all__ = ["ON_EXISTING", "ON_REPEATED_ANNOTATOR", "ImportReport", "configured_limits", "import_file"]
ProgressCallback = Callable[[int, ReadPosition], None]


@dataclass
class ImportReport:
    file: str
    format: str
    on_existing: str
    on_repeated_annotator: str = "refuse"
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
    on_repeated_annotator: str = "refuse",
    progress: ProgressCallback | None = None,
    display_name: str | None = None,
    limits: ImportLimits | None = None,
) -> ImportReport:
    """Import ``path`` into ``project`` in one transaction, under ``limits`` (default: the settings')."""
    if on_existing not in ON_EXISTING:
        raise DatasetImportError(f"on_existing must be one of {ON_EXISTING}, got {on_existing!r}")
    name = display_name or path.name
    if not path.is_file():
        raise DatasetImportError("no such file", file=name)
    limits = limits or configured_limits()
    try:
        fmt = detect_format(path, fmt)
        report = ImportReport(
            file=name, format=fmt, on_existing=on_existing, on_repeated_annotator=on_repeated_annotator
        )
        mapper = RecordMapper(name, limits, on_repeated_annotator)
        position = ReadPosition()
        with transaction.atomic():
            _Importer(project, report, mapper, on_existing).run(
                iter_records(path, fmt, position, limits), position, progress
            )
            report.notes = dict(mapper.notes)
    except DatasetImportError as error:
        if error.file != path.name or name == path.name:
            raise
        # The readers know the file by its name on disk (an upload's is random): say the user's name.
        raise DatasetImportError(
            error.reason, file=name, location=error.location, field=error.field
        ) from None
    return report


def configured_limits() -> ImportLimits:
    """The caps from ``settings.IMPORT_LIMITS`` (filled from the environment; see docs/IMPORTING.md)."""
    return ImportLimits.from_mapping(getattr(settings, "IMPORT_LIMITS", None))


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

    def _create_labels(self, pairs, *, replace: bool = False) -> None:
        humans, lms, orders, instance_ids = [], [], [], []
        for instance, m in pairs:
            instance_ids.append(instance.pk)
            humans += [
                HumanLabel(instance=instance, annotator_ref=ref, preference=pref, source=LabelSource.IMPORTED)
                for ref, pref in m.human_votes
            ]
            lms += [_lm_label(instance, label) for label in m.lm_labels]
            orders += [
                ImportedOrderVerdict(instance.pk, label.judge, "", order, verdict)
                for label in m.lm_labels
                for order, verdict in (label.orders or {}).items()
            ]
        HumanLabel.objects.bulk_create(humans, batch_size=1000)
        LMLabel.objects.bulk_create(lms, batch_size=1000)
        self._send_orders(orders, instance_ids if replace else [])
        self.report.human_votes += len(humans)
        self.report.lm_labels += len(lms)

    def _send_orders(self, orders: list[ImportedOrderVerdict], replaced: list[int]) -> None:
        """Per-order verdicts go to the judging app, which stores them as its judge command does (and drops
        the earlier imported ones of instances this import updates)."""
        if not order_verdicts_imported.has_listeners():
            if not orders:
                return
            raise DatasetImportError(
                "the file gives LM verdicts per response order, but no installed app stores them "
                "(add annotation.judging to INSTALLED_APPS)",
                file=self.report.file,
            )
        if orders or replaced:
            order_verdicts_imported.send(
                sender=Project,
                project=self.project,
                verdicts=orders,
                replaced=replaced,
                file=self.report.file,
            )

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
                Counter(label.key() for label in m.lm_labels),
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
        for instance_id, judge, pref, details in LMLabel.objects.filter(
            instance_id__in=pks, source=LabelSource.IMPORTED
        ).values_list("instance_id", "judge", "preference", "details"):
            stored = ImportedLMLabel(judge, pref, _stored_orders(details))
            labels.setdefault(instance_id, (Counter(), Counter()))[1][stored.key()] += 1
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
        self._create_labels(zip(instances, mapped, strict=True), replace=True)
        self.report.updated += len(mapped)


def _lm_label(instance: Instance, label: ImportedLMLabel) -> LMLabel:
    """An imported LM label; one given in both orders carries its reconciliation like the judge command's."""
    details = {}
    if label.orders:
        details = {
            "reason": label.reason,
            "orders": {order: {"verdict": verdict} for order, verdict in label.orders.items()},
        }
    return LMLabel(
        instance=instance,
        judge=label.judge,
        preference=label.preference,
        consistent=label.consistent,
        details=details,
        source=LabelSource.IMPORTED,
    )


def _stored_orders(details: object) -> dict[str, int] | None:
    if not isinstance(details, dict) or not isinstance(details.get("orders"), dict):
        return None
    return {order: stored.get("verdict") for order, stored in details["orders"].items()}
