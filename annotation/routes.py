"""What the annotation apps ask of routing, as one interface that the routing app fills in.

Routing is built on annotation (it reads instances and labels), so annotation never imports routing. Yet the
annotation workflow must know a project's latest routing run and which instances it sends to people, the
dataset builder must describe that run in every row's provenance, and the agreement report breaks agreement
down by tag value. These questions are the :class:`RoutingSource` protocol; the routing app registers its
implementation when Django starts (``RoutingAppConfig.ready``). Without one, a project has no routing runs
and no tag values, and people annotate what researchers chose by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.db.models import Expression, IntegerField, OuterRef, QuerySet, Subquery, Value

if TYPE_CHECKING:
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
    """The questions annotation asks of routing."""

    def runs(self) -> QuerySet:
        """Every routing run, newest first: rows with a ``project`` foreign key (the latest one decides)."""

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


def latest_run_id(project: Project) -> int | None:
    """The id of the project's routing run that decides who annotates what (its latest), or None."""
    if _source is None:
        return None
    return _source.runs().filter(project=project).values_list("pk", flat=True).first()


def latest_run_subquery(project_ref: str = "pk") -> Expression:
    """The latest run's id of the project named by ``OuterRef(project_ref)``, for one-query annotations."""
    if _source is None:
        return Value(None, output_field=IntegerField())
    return Subquery(_source.runs().filter(project=OuterRef(project_ref)).values("pk")[:1])
