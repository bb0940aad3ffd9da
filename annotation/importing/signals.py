"""What the import tells other apps, without importing them (the base app sits below the judging app).

``order_verdicts_imported`` carries the per-order verdicts of judges the file gave in both response orders;
the judging app stores them as the same per-order records its ``judge`` command writes. It is sent inside
the import's transaction, so the records commit or roll back with the import.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal


@dataclass(frozen=True)
class ImportedOrderVerdict:
    """One judge's canonical verdict on one instance in one response order ("AB" or "BA")."""

    instance_id: int
    judge: str
    prompt_version: str
    order: str
    verdict: int


# sender: the Project model; kwargs: project, verdicts (list[ImportedOrderVerdict]), replaced (ids of
# instances updated by this import: their earlier imported per-order verdicts go first), file (display name).
order_verdicts_imported = Signal()
