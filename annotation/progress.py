"""Progress bars for the long management commands (import, tags, judging, the PPM loop, export).

Long work reports progress as ``(done, total, message)``: to its ``Job`` (``Job.report_progress``, read by
the dashboard) or to a callback. A command that runs such work in its own process opens
:func:`progress_bar`; while it is open, every ``Job.report_progress`` of this process also moves the bar, so
the job bodies need no second progress path. Celery workers open no bar, so reporting there costs nothing
more. The bar is drawn on the terminal's stderr and hidden when stderr is not a terminal (logs, tests) or the
command runs with ``--verbosity 0``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

Progress = Callable[[int, int | None, str], None]

_open_bars: list[ProgressBar] = []


class ProgressBar:
    """A ``Progress`` callback that draws one tqdm bar: ``done`` out of ``total`` (unknown total: a counter)."""

    def __init__(
        self,
        description: str,
        unit: str = "it",
        stream: TextIO | None = None,
        verbosity: int = 1,
        force: bool = False,
    ):
        self._bar = tqdm(
            desc=description,
            unit=unit,
            unit_scale=unit == "B",
            file=stream or sys.stderr,
            dynamic_ncols=True,
            disable=False if force else (None if verbosity > 0 else True),  # None: only on a terminal
        )

    def __call__(self, done: int, total: int | None = None, message: str = "") -> None:
        if total is not None and total != self._bar.total:
            self._bar.total = total
        self._bar.update(max(done - self._bar.n, 0))
        if message:
            self._bar.set_postfix_str(message, refresh=True)

    def close(self) -> None:
        self._bar.close()


@contextmanager
def progress_bar(
    description: str, unit: str = "it", stream: TextIO | None = None, verbosity: int = 1, force: bool = False
) -> Iterator[ProgressBar]:
    """A bar for the duration of the block; jobs run in this process report to it too.

    ``verbosity`` is the command's (0 hides the bar); ``force`` draws it even when ``stream`` is no terminal.
    """
    bar = ProgressBar(description, unit, stream, verbosity, force)
    _open_bars.append(bar)
    try:
        yield bar
    finally:
        _open_bars.remove(bar)
        bar.close()


def report(done: int, total: int | None, message: str) -> None:
    """Move the innermost open bar, if any (``Job.report_progress`` calls this)."""
    if _open_bars:
        _open_bars[-1](done, total, message)
