"""Which instances need people.

The routing app decides per routing run (``routing.RoutingDecision``); the project's latest run wins. Until a
project has a routing run, researchers choose instances by hand (``HumanQueueEntry``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from annotation.models import Instance, Project
from annotation.workflow.models import HumanQueueEntry
from routing.app.models import RoutingDecision, RoutingRun


@dataclass
class HumanSource:
    instances: QuerySet[Instance]
    description: str


def instances_for_people(project: Project) -> HumanSource:
    run = RoutingRun.objects.filter(project=project).order_by("-created_at", "-id").first()
    if run is not None:
        ids = RoutingDecision.objects.filter(run=run, route=RoutingDecision.Route.HUMAN).values("instance_id")
        return HumanSource(
            Instance.objects.filter(project=project, pk__in=ids), f"routed-to-humans by routing run #{run.pk}"
        )
    ids = HumanQueueEntry.objects.filter(project=project).values("instance_id")
    return HumanSource(
        Instance.objects.filter(project=project, pk__in=ids), "chosen for people by a researcher"
    )


def add_to_queue(project: Project, instances: list[Instance], user=None) -> int:
    """Send instances to people (researcher's choice); returns how many were new."""
    existing = set(
        HumanQueueEntry.objects.filter(project=project, instance__in=instances).values_list(
            "instance_id", flat=True
        )
    )
    new = [
        HumanQueueEntry(project=project, instance=i, added_by=user) for i in instances if i.pk not in existing
    ]
    HumanQueueEntry.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
