"""What the annotation apps ask of routing, as one interface that the routing app fills in.

Routing is built on annotation (it reads instances and labels), so annotation never imports routing. Yet the
annotation queue must know which instances a routing run sends to people, the dataset builder must describe
that run in every row's provenance, and the agreement report breaks agreement down by tag value. These three
questions are the :class:`RoutingSource` protocol; the routing app registers its implementation when Django
starts (``RoutingAppConfig.ready``). Without one, a project has no routing runs and no tag values, and people
annotate what researchers chose by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from annotation.models import Project


@dataclass(frozen=True)
class RunFacts:
    """A routing run as the dataset provenance names it (strategy, budget, PPM version)."""

    run_id: int
    project_id: int
    strategy: str
    budget: int | None
    ppm_version: str | None


class RoutingSource(Protocol):
    """The three questions annotation asks of routing."""

    def latest_run(self, project: Project) -> int | None:
        """The id of the project's routing run that decides today (the latest), or None."""

    def run_facts(self, run_id: int) -> RunFacts | None:
        """The run's description, or None when no run has that id."""

    def human_decisions(self, run_id: int) -> QuerySet:
        """The run's decisions that send an instance to people: rows with an ``instance`` foreign key."""

    def tag_values(self, project: Project) -> Iterator[tuple[int, str, Any]]:
        """(instance id, tag name, value) for every stored tag value of the project's instances."""


_source: RoutingSource | None = None


def register_routing_source(source: RoutingSource) -> None:
    """Called once by the routing app at start-up; a second registration replaces the first."""
    global _source
    _source = source


def routing_source() -> RoutingSource | None:
    """The registered routing source, or None when no routing app is installed."""
    return _source
