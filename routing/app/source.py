"""The routing app's answers to what annotation asks of routing (``annotation.routes.RoutingSource``).

Registered at start-up by ``RoutingAppConfig.ready``, so the annotation queue, the dataset builder and the
agreement report learn about routing runs and tag values without importing this app.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from annotation.models import Project
from annotation.routes import RunFacts
from routing.app.models import RoutingDecision, RoutingRun, TagValue


class RoutingAppSource:
    """Routing runs and tag values as stored by this app (the latest run of a project decides)."""

    def runs(self) -> QuerySet:
        return RoutingRun.objects.order_by("-created_at", "-id")

    def run_facts(self, run_id: int) -> RunFacts | None:
        run = RoutingRun.objects.select_related("ppm").filter(pk=run_id).first()
        if run is None:
            return None
        return RunFacts(
            run_id=run.pk,
            project_id=run.project_id,
            strategy=run.strategy,
            budget=run.budget,
            ppm_version=run.ppm.name,
        )

    def human_decisions(self, run_id: int) -> QuerySet:
        return RoutingDecision.objects.filter(run_id=run_id, route=RoutingDecision.Route.HUMAN)

    def tag_values(self, project: Project) -> Iterator[tuple[int, str, Any]]:
        query = TagValue.objects.filter(instance__project=project).values_list("instance_id", "tag", "value")
        yield from query.iterator(chunk_size=5000)
