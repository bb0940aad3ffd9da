"""Which instances need people.

The routing app decides per routing run; the project's latest run wins. It answers through
``annotation.routes`` (this app sits below routing and never imports it). Until a project has a routing run,
researchers choose instances by hand (``HumanQueueEntry``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from annotation.models import Instance, Project
from annotation.routes import latest_run_id, routing_source
from annotation.workflow.models import HumanQueueEntry
from annotation.workflow.progress import add_rows
from annotation.workflow.quota import ensure_quota_rows

UNKNOWN = object()
QUEUE_KEY = "queue"


@dataclass
class HumanSource:
    """Which instances need people: a routing run's human decisions, or the researcher's queue."""

    project_id: int
    description: str
    key: str  # 'run:<id>' or 'queue': what the quota rows were built for
    run_id: int | None = None

    @property
    def instances(self) -> QuerySet[Instance]:
        """The instances themselves (built when asked: the task hot path needs only ``contains``)."""
        if self.run_id is not None:
            ids = routing_source().human_decisions(self.run_id).values("instance_id")
        else:
            ids = HumanQueueEntry.objects.filter(project=self.project_id).values("instance_id")
        return Instance.objects.filter(project=self.project_id, pk__in=ids)

    def contains(self, instance_ref: str = "pk") -> Exists:
        """An indexed EXISTS that is true when the instance named by ``OuterRef(instance_ref)`` is in here."""
        if self.run_id is not None:
            return Exists(
                routing_source().human_decisions(self.run_id).filter(instance=OuterRef(instance_ref))
            )
        return Exists(HumanQueueEntry.objects.filter(instance=OuterRef(instance_ref)))


def instances_for_people(project: Project, run_id: int | None | object = UNKNOWN) -> HumanSource:
    """The instances that need people; ``run_id`` is the latest routing run when the caller read it already."""
    run = latest_run_id(project) if run_id is UNKNOWN else run_id
    if run is not None:
        return HumanSource(project.pk, f"routed-to-humans by routing run #{run}", f"run:{run}", run)
    return HumanSource(project.pk, "chosen for people by a researcher", QUEUE_KEY)


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
    ensure_quota_rows(project, [entry.instance_id for entry in new])
    add_rows(project, QUEUE_KEY, [entry.instance_id for entry in new])
    return len(new)
