"""Which instances need people.

The routing app (``routing.RoutingDecision``, built elsewhere) decides per routing run; its latest run for
the project wins. Until a project has a routing run, researchers choose instances by hand
(``HumanQueueEntry``). The routing models are read lazily so this app works without the routing app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet

from annotation.models import Instance, Project
from annotation.workflow.models import HumanQueueEntry

log = logging.getLogger(__name__)


@dataclass
class HumanSource:
    instances: QuerySet[Instance]
    description: str


def _latest_routing_run_decisions(project: Project):
    """The human-routed decisions of the project's latest routing run, or None when there is no run."""
    try:
        decision_model = apps.get_model("routing", "RoutingDecision")
    except LookupError:
        return None, None
    try:
        run_field = decision_model._meta.get_field("run")
        run_model = run_field.related_model
    except FieldDoesNotExist:
        log.warning("routing.RoutingDecision has no 'run' field; falling back to the researcher queue")
        return None, None
    if not _has_field(run_model, "project"):
        log.warning("the routing run model has no 'project' field; falling back to the researcher queue")
        return None, None
    runs = run_model.objects.filter(project=project)
    order = ["-created_at", "-id"] if _has_field(run_model, "created_at") else ["-id"]
    run = runs.order_by(*order).first()
    if run is None:
        return None, None
    return decision_model.objects.filter(run=run, route="human"), run


def _has_field(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def instances_for_people(project: Project) -> HumanSource:
    decisions, run = _latest_routing_run_decisions(project)
    if decisions is not None:
        ids = decisions.values("instance_id")
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
