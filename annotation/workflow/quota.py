"""Per-instance quota counters (``QuotaState``): how many slots are taken, per tier, and how many shown swapped.

The invariant: for every instance with a row, ``normal`` / ``expert`` / ``gold`` equal the number of its
assignments of that tier whose status is ``submitted`` or ``active``, and ``swapped`` the number of those
shown in swapped order. Whoever changes such a status changes the counters in the same transaction, with the
quota row locked first (the one lock order every path follows: quota row, then assignment row).

Rows are made when an instance first needs people (``ensure_quota_rows``), with counts read from the
assignments, so making them late never loses a count; ``rebuild_quota_state`` repairs a whole project.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, F

from annotation.models import Project
from annotation.workflow.models import Assignment, QuotaState


def _pk(project: Project | int) -> int:
    return project if isinstance(project, int) else project.pk


TAKING = [Assignment.Status.SUBMITTED, Assignment.Status.ACTIVE]
COUNTERS = ["normal", "expert", "gold", "swapped"]
CHUNK = 5000


def _counted_rows(project_id: int, instance_ids: list[int]) -> list[QuotaState]:
    rows = {i: QuotaState(instance_id=i, project_id=project_id) for i in instance_ids}
    held = (
        Assignment.objects.filter(instance_id__in=instance_ids, status__in=TAKING)
        .values("instance_id", "tier", "shown_swapped")
        .annotate(n=Count("id"))
        .order_by()
    )
    for group in held:
        row = rows[group["instance_id"]]
        setattr(row, group["tier"], getattr(row, group["tier"]) + group["n"])
        if group["shown_swapped"]:
            row.swapped += group["n"]
    return list(rows.values())


def ensure_quota_rows(project: Project | int, instance_ids: Iterable[int]) -> int:
    """Make the missing rows of these instances (counted from their assignments); returns how many."""
    ids = sorted(set(instance_ids))
    made = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        have = set(QuotaState.objects.filter(instance_id__in=chunk).values_list("instance_id", flat=True))
        missing = [i for i in chunk if i not in have]
        if missing:
            rows = _counted_rows(_pk(project), missing)
            QuotaState.objects.bulk_create(rows, ignore_conflicts=True)
            made += len(missing)
    return made


def rebuild_quota_state(project: Project) -> int:
    """Recompute every quota row of the project from its assignments (repair); returns how many were wrong.

    Each chunk of rows is locked first, as every path that changes the counters does, so the repair is
    exact even while people annotate.
    """
    ids = list(QuotaState.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    wrong = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with transaction.atomic():
            stored = {
                row.pk: row
                for row in QuotaState.objects.select_for_update().filter(pk__in=chunk).order_by("pk")
            }
            fresh = [row for row in _counted_rows(project.pk, chunk) if _differs(row, stored.get(row.pk))]
            QuotaState.objects.bulk_update(fresh, COUNTERS)
            wrong += len(fresh)
    return wrong


def _differs(fresh: QuotaState, stored: QuotaState | None) -> bool:
    return stored is not None and any(getattr(fresh, f) != getattr(stored, f) for f in COUNTERS)


def take(instance_id: int, tier: str, swapped: bool) -> None:
    """One more slot of ``tier`` taken (the caller holds the quota row's lock and checked the quota)."""
    changes = {tier: F(tier) + 1}
    if swapped:
        changes["swapped"] = F("swapped") + 1
    QuotaState.objects.filter(instance_id=instance_id).update(**changes)


def give_back(instance_id: int, tier: str, swapped: bool) -> None:
    """One slot of ``tier`` free again (skip, expired lease released)."""
    changes = {tier: F(tier) - 1}
    if swapped:
        changes["swapped"] = F("swapped") - 1
    QuotaState.objects.filter(instance_id=instance_id).update(**changes)


def lock_row(project: Project | int, instance_id: int) -> QuotaState:
    """The instance's quota row, locked for this transaction (made first when missing)."""
    found = QuotaState.objects.select_for_update().filter(instance_id=instance_id).first()
    if found is None:
        ensure_quota_rows(project, [instance_id])
        found = QuotaState.objects.select_for_update().get(instance_id=instance_id)
    return found
