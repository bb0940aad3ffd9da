"""Annotation progress of a project for the researcher's pages, from the workflow's maintained counters.

The totals (complete instances, submitted answers per tier) are the workflow's progress counters of the
project's current source of instances (``annotation.workflow.progress``): a handful of indexed rows, however
large the project. The number of routed instances comes from what the routing run stored (``budget`` is its
count of human decisions) or the researcher queue's size. While a new routing run's rows are still being
counted (a chunk per next-task request, or at once by ``rebuild_quota_counters``), ``counting`` says so.
"""

from __future__ import annotations

from typing import Any

from annotation.models import Project
from annotation.workflow import progress
from annotation.workflow.models import HumanQueueEntry
from annotation.workflow.queue import HumanSource, instances_for_people
from routing.app.models import RoutingRun

TIERS = progress.TIERS


def routed_count(project: Project, source: HumanSource) -> int:
    """How many instances the source sends to people, without counting them one by one."""
    if source.run_id is not None:
        return RoutingRun.objects.filter(pk=source.run_id).values_list("budget", flat=True).first() or 0
    return HumanQueueEntry.objects.filter(project=project).count()


def project_progress(project: Project) -> dict[str, Any]:
    """Routed instances, how many have every tier's quota of submitted answers, and submitted per tier."""
    source = instances_for_people(project)
    quota = progress.tier_quotas(project)
    totals = progress.totals(project, source.key)
    needed = routed_count(project, source)
    return {
        "quota": quota,
        "needed": needed,
        # nothing asked of people: every routed instance is done
        "done": totals["complete"] if any(quota[tier] for tier in TIERS) else needed,
        "submitted": {tier: totals[tier] for tier in TIERS},
        "counted": totals["instances"],
        "counting": totals["instances"] < needed,
    }
