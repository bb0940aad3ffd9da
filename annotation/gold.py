"""Known answers of gold items, asked through one interface that the workflow app fills in.

Gold items (instances with a known answer, mixed into annotators' tasks) belong to the workflow app, which sits
above the datasets app: the workflow keeps aggregates current when an annotator edits a label. The agreement
report (datasets) still scores each annotator's gold labels, so it asks :func:`gold_answers`; the workflow
app registers where the answers live when Django starts (``WorkflowConfig.ready``). Without it, no instance
has a known answer and gold accuracy is simply not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

GoldSource = Callable[[Iterable[int]], dict[int, int]]

_source: GoldSource | None = None


def register_gold_source(source: GoldSource) -> None:
    """Called once by the workflow app at start-up: instance ids -> known preference (canonical order)."""
    global _source
    _source = source


def gold_answers(instance_ids: Iterable[int]) -> dict[int, int]:
    """The known preference of each gold item among ``instance_ids`` that has one."""
    return _source(instance_ids) if _source is not None else {}
