"""Per-order LM verdicts that came with an imported file, stored as the ``judge`` command stores its own.

The import (in the base app, which must not import this one) announces them with
``annotation.importing.signals.order_verdicts_imported``; this receiver writes one ``LMJudgment`` per
(instance, judge, order) so that consistency, reconciliation and the uncertainty tags read imported judges
exactly as they read judges run here. Imported rows have no raw output (the file holds none) and say where
they came from in ``decoding["source"]``.
"""

from __future__ import annotations

from typing import Any

from annotation.importing.signals import ImportedOrderVerdict
from annotation.judging.models import LMJudgment


def store_imported_orders(
    sender: Any,
    verdicts: list[ImportedOrderVerdict],
    replaced: list[int],
    file: str,
    **kwargs: Any,
) -> None:
    """Receiver of ``order_verdicts_imported``: drop the imported rows of re-imported instances, add the new."""
    if replaced:
        LMJudgment.objects.filter(instance_id__in=replaced, decoding__source="imported").delete()
    LMJudgment.objects.bulk_create(
        [
            LMJudgment(
                instance_id=v.instance_id,
                judge=v.judge,
                model=v.judge,
                prompt_version=v.prompt_version,
                order=v.order,
                verdict=v.verdict,
                raw_output=None,
                decoding={"source": "imported"},
                details={"imported_from": file},
            )
            for v in verdicts
        ],
        batch_size=1000,
    )
