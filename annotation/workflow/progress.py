"""Maintained annotation progress per source of instances: per-instance submitted counts and project totals.

The researcher's pages ask, for the instances that need people (the latest routing run's, or the researcher
queue's): how many there are, how many have every tier's quota of submitted answers, and how many answers
were submitted per tier. Counting that from the assignments reads every one of them; here it is kept:

- ``ProgressState``: per (instance, source key), submitted answers per tier;
- ``ProgressCounter``: per (project, source key, shard), the sums over the counted rows, and how many of them
  are complete.

The invariant, for every (project, source key): the counters summed over the shards equal the sums over the
rows with ``counted`` set, and each counted row's counts equal its instance's submitted assignments per
tier. A submit keeps it in its own transaction (``record_submit``: the row, then the shard, both by indexed
updates). Skips, expired leases, undone skips and edits never change a submitted count, so they need
nothing. A new source (a routing run, instances added to the queue) gets rows in two steps: rows are
inserted uncounted first, then each chunk is locked and counted from the assignments and added to the
counters (``count_rows``), so that a submit running meanwhile is counted once, either way. ``rebuild``
repairs rows and counters (``manage.py rebuild_quota_counters``); it is also what to run after changing a
project's overlap, since "complete" depends on the quota.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Sum
from django.db.models.functions import Mod

from annotation.models import Project
from annotation.workflow.models import Assignment, ProgressCounter, ProgressState

TIERS = (Assignment.Tier.NORMAL, Assignment.Tier.EXPERT)
TOTALS = ("instances", "complete", "normal", "expert")
CHUNK = 5000


def tier_quotas(project: Project) -> dict[str, int]:
    """Submitted answers each routed instance needs per tier (the project's overlap)."""
    overlap = project.overlap or {}
    return {tier: int(overlap.get(tier, 0)) for tier in TIERS}


def shard_of(instance_id: int) -> int:
    return instance_id % ProgressCounter.SHARDS


def is_complete(counts: dict[str, int], quota: dict[str, int]) -> bool:
    return all(counts[tier] >= quota[tier] for tier in TIERS)


# ------------------------------------------------------------------------------------------ counters


def _add(project_id: int, key: str, shard: int, changes: dict[str, int]) -> None:
    """Add to one counter shard with an indexed update (the row is made first when missing)."""
    changes = {name: value for name, value in changes.items() if value}
    if not changes:
        return
    shard_row = ProgressCounter.objects.filter(project_id=project_id, source_key=key, shard=shard)
    update = {name: F(name) + value for name, value in changes.items()}
    if not shard_row.update(**update):
        ProgressCounter.objects.bulk_create(
            [ProgressCounter(project_id=project_id, source_key=key, shard=shard)], ignore_conflicts=True
        )
        shard_row.update(**update)


def record_submit(instance_id: int, tier: str, quota: dict[str, int]) -> None:
    """One more submitted answer of ``tier`` on this instance: its rows and their sources' counters.

    Called in the submit's transaction, after the assignment is stored. One UPDATE ... RETURNING for the
    instance's rows (usually one: the source it was routed by), one counter update per counted row.
    """
    if tier not in TIERS:
        return  # gold items are not routed instances
    table = connection.ops.quote_name(ProgressState._meta.db_table)
    column = connection.ops.quote_name(ProgressState._meta.get_field(tier).column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {column} + 1 WHERE instance_id = %s "
            "RETURNING project_id, source_key, counted, normal, expert",
            [instance_id],
        )
        rows = sorted(cursor.fetchall(), key=lambda row: row[1])
    for project_id, key, counted, normal, expert in rows:
        if not counted:
            continue  # counted from the assignments when its chunk is counted
        after = {Assignment.Tier.NORMAL: normal, Assignment.Tier.EXPERT: expert}
        before = {**after, tier: after[tier] - 1}
        became = is_complete(after, quota) and not is_complete(before, quota)
        _add(project_id, key, shard_of(instance_id), {tier: 1, "complete": int(became)})


def totals(project: Project, key: str) -> dict[str, int]:
    """The source's counters summed over the shards (one indexed query of at most ``SHARDS`` rows)."""
    found = ProgressCounter.objects.filter(project=project, source_key=key).aggregate(
        **{name: Sum(name) for name in TOTALS}
    )
    return {name: found[name] or 0 for name in TOTALS}


# ------------------------------------------------------------------------------------------ rows


def _submitted(instance_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {i: dict.fromkeys(TIERS, 0) for i in instance_ids}
    groups = (
        Assignment.objects.filter(
            instance_id__in=instance_ids, status=Assignment.Status.SUBMITTED, tier__in=TIERS
        )
        .values("instance_id", "tier")
        .annotate(n=Count("id"))
        .order_by()
    )
    for group in groups:
        counts[group["instance_id"]][group["tier"]] = group["n"]
    return counts


def _contribution(row: ProgressState, quota: dict[str, int]) -> dict[str, int]:
    if not row.counted:
        return dict.fromkeys(TOTALS, 0)
    counts = {tier: getattr(row, tier) for tier in TIERS}
    return {"instances": 1, "complete": int(is_complete(counts, quota)), **counts}


def count_rows(project: Project, key: str, instance_ids: list[int]) -> int:
    """Lock these rows of the source, recount them from the assignments, mark them counted and move the
    difference into the counters; returns how many rows changed (new ones included)."""
    quota = tier_quotas(project)
    changed: list[ProgressState] = []
    deltas: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTALS, 0))
    with transaction.atomic():
        rows = list(
            ProgressState.objects.select_for_update()
            .filter(source_key=key, instance_id__in=instance_ids)
            .order_by("instance_id")
        )
        fresh = _submitted([row.instance_id for row in rows])
        for row in rows:
            before = _contribution(row, quota)
            counts = fresh[row.instance_id]
            if row.counted and all(getattr(row, tier) == counts[tier] for tier in TIERS):
                continue
            row.counted = True
            for tier in TIERS:
                setattr(row, tier, counts[tier])
            after = _contribution(row, quota)
            for name in TOTALS:
                deltas[shard_of(row.instance_id)][name] += after[name] - before[name]
            changed.append(row)
        _store_counts(changed)
        for shard in sorted(deltas):
            _add(project.pk, key, shard, deltas[shard])
    return len(changed)


def _store_counts(rows: list[ProgressState]) -> None:
    """Write the recounted rows, one UPDATE per distinct (normal, expert) pair (a handful: counts run from 0
    to the quota), instead of one CASE per row."""
    by_counts: dict[tuple[int, int], list[int]] = defaultdict(list)
    for row in rows:
        by_counts[(row.normal, row.expert)].append(row.pk)
    for (normal, expert), ids in sorted(by_counts.items()):
        ProgressState.objects.filter(pk__in=ids).update(counted=True, normal=normal, expert=expert)


def add_rows(project: Project, key: str, instance_ids: Iterable[int]) -> int:
    """Give these instances rows in the source (uncounted first, then counted chunk by chunk)."""
    ids = sorted(set(instance_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        ProgressState.objects.bulk_create(
            [ProgressState(instance_id=i, project_id=project.pk, source_key=key) for i in chunk],
            ignore_conflicts=True,
        )
        count_rows(project, key, chunk)
    return len(ids)


def sync_source(project: Project, key: str, instances, limit: int | None = CHUNK) -> int:
    """Rows for up to ``limit`` instances of the source (a queryset of instances) that lack one, lowest ids
    first; returns how many were added (fewer than ``limit``: the source is complete)."""
    mine = ProgressState.objects.filter(instance=OuterRef("pk"), source_key=key)
    missing = instances.filter(~Exists(mine)).order_by("pk").values_list("pk", flat=True)
    ids = list(missing if limit is None else missing[:limit])
    return add_rows(project, key, ids)


# ------------------------------------------------------------------------------------------ repair


def recount_project_rows(project: Project) -> int:
    """Recount every counted row of the project from the assignments; returns how many were wrong."""
    wrong = 0
    keys = ProgressState.objects.filter(project=project).values_list("source_key", flat=True).distinct()
    for key in sorted(set(keys)):
        ids = list(
            ProgressState.objects.filter(project=project, source_key=key)
            .order_by("instance_id")
            .values_list("instance_id", flat=True)
        )
        for start in range(0, len(ids), CHUNK):
            wrong += count_rows(project, key, ids[start : start + CHUNK])
    return wrong


def rebuild_counters(project: Project) -> int:
    """Set every counter shard of the project to the sums of its counted rows; returns how many were wrong.

    The project's counter rows are locked first: a submit that updated one waits to commit first, one that
    has not yet updated it waits and adds after, so the sums read here are exact at the end.
    """
    quota = tier_quotas(project)
    full = Q(**{f"{tier}__gte": quota[tier] for tier in TIERS})
    with transaction.atomic():
        stored = {
            (c.source_key, c.shard): c
            for c in ProgressCounter.objects.select_for_update()
            .filter(project=project)
            .order_by("source_key", "shard")
        }
        sums = (
            ProgressState.objects.filter(project=project, counted=True)
            .annotate(shard=Mod("instance_id", ProgressCounter.SHARDS, output_field=IntegerField()))
            .values("source_key", "shard")
            .annotate(
                instances=Count("pk"),
                complete=Count("pk", filter=full),
                sum_normal=Sum("normal"),
                sum_expert=Sum("expert"),
            )
            .order_by()
        )
        fresh = {
            (s["source_key"], s["shard"]): {
                "instances": s["instances"],
                "complete": s["complete"],
                "normal": s["sum_normal"] or 0,
                "expert": s["sum_expert"] or 0,
            }
            for s in sums
        }
        return _write_counters(project, stored, fresh)


def _write_counters(project: Project, stored: dict, fresh: dict) -> int:
    wrong = 0
    zero = dict.fromkeys(TOTALS, 0)
    for place in sorted(set(stored) | set(fresh)):
        values = fresh.get(place, zero)
        row = stored.get(place)
        if row is not None and all(getattr(row, name) == values[name] for name in TOTALS):
            continue
        wrong += 1
        key, shard = place
        ProgressCounter.objects.update_or_create(
            project=project, source_key=key, shard=shard, defaults=values
        )
    return wrong


def rebuild(project: Project, source_key: str | None = None, source_instances=None) -> tuple[int, int]:
    """Repair: rows for the current source's instances that lack one, every row recounted, every counter
    set from the rows. Returns (rows wrong or added, counter shards wrong)."""
    added = 0
    if source_key is not None and source_instances is not None:
        added = sync_source(project, source_key, source_instances, limit=None)
    return added + recount_project_rows(project), rebuild_counters(project)
