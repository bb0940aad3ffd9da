"""Annotation progress of a project for the researcher's pages, in indexed aggregates.

The workflow's ``instance_progress`` gives one row per instance (four counts each) for the per-instance
view; summing those rows on a project of a million instances reads every one. Here the totals come from
the submitted assignments of the routed instances, grouped once, and the number of routed instances from
what the routing run stored (``budget`` is its count of human decisions) or the researcher queue's size.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, Sum

from annotation.models import Project
from annotation.workflow.assignment import quotas
from annotation.workflow.models import Assignment, HumanQueueEntry
from annotation.workflow.queue import HumanSource, instances_for_people
from routing.app.models import RoutingRun

TIERS = (Assignment.Tier.NORMAL, Assignment.Tier.EXPERT)


def routed_count(project: Project, source: HumanSource) -> int:
    """How many instances the source sends to people, without counting them one by one."""
    if source.run_id is not None:
        return RoutingRun.objects.filter(pk=source.run_id).values_list("budget", flat=True).first() or 0
    return HumanQueueEntry.objects.filter(project=project).count()


def project_progress(project: Project) -> dict[str, Any]:
    """Routed instances, how many have every tier's quota of submitted answers, and submitted per tier:
    one grouped pass over the submitted assignments of the routed instances."""
    source = instances_for_people(project)
    quota = quotas(project)
    per_instance = (
        Assignment.objects.filter(status=Assignment.Status.SUBMITTED)
        .filter(source.contains("instance_id"))
        .values("instance_id")
        .annotate(**{tier: Count("id", filter=Q(tier=tier)) for tier in TIERS})
        .order_by()
    )
    full = Q(**{f"{tier}__gte": quota[tier] for tier in TIERS})
    totals = per_instance.aggregate(
        done=Count("instance_id", filter=full), **{f"{tier}_sum": Sum(tier) for tier in TIERS}
    )
    needed = routed_count(project, source)
    return {
        "quota": quota,
        "needed": needed,
        # nothing asked of people: every routed instance is done
        "done": totals["done"] if any(quota[tier] for tier in TIERS) else needed,
        "submitted": {tier: totals[f"{tier}_sum"] or 0 for tier in TIERS},
    }
