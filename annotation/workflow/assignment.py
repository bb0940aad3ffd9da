"""Handing out tasks under expiring leases, and taking answers back.

``next_task`` is a small staged pipeline (in the manner of Label Studio's next-task logic). The stages are
named and recorded on the assignment for researchers (the progress views); annotators are told only that a
task still needs their answer, never which stage, gold item, routing run or budget chose it:

1. ``resume-your-lease``   - a task the annotator already holds comes back first (reload, back button);
2. ``gold-mix``            - with probability ``gold_rate``, a gold item the annotator has not done;
3. ``routed-to-humans``    - the instances that need people (latest routing run, else the researcher queue);
4. ``not-done-by-you``     - minus what this annotator submitted, skipped or holds;
5. ``quota-open-for-tier`` - minus instances whose quota for the annotator's tier is full (expert when the
   instance's domain is one of the annotator's expert domains, else normal);
6. ``oldest-first``        - the lowest instance id wins;
7. ``leased``              - the quota row is locked (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   the database write lock on SQLite) in the same query that applies stages 3-6, and the lease is written.

Stages 3-7 are one indexed query over the per-instance counters (``QuotaState``, see ``quota.py``), not a
count per candidate. Submitted answers and active leases take slots; expired leases are released before a
task is chosen, so an instance returns to the queue when its lease runs out. Every lease carries a random
``lease_token``; a submit or skip must bring it back, so an answer given to one display order can never be
stored against another (docs/WORKFLOW.md).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.api.prepared import prepared
from annotation.models import HumanLabel, Instance, Project
from annotation.workflow import progress
from annotation.workflow import quota as counters
from annotation.workflow.access import Annotating, NotAllowed, annotating
from annotation.workflow.answers import validate_answer
from annotation.workflow.models import Assignment, GoldAnswer, ProgressState, QuotaState
from annotation.workflow.queue import HumanSource, instances_for_people
from annotation.workflow.settings_store import settings_for

Status = Assignment.Status
Tier = Assignment.Tier
LOCK_TRIES = 3
EXPIRED_PER_REQUEST = 20
BUSY = "every open candidate is being leased by others right now; ask again"
NOTHING_LEFT = "nothing left for you"
WHY_NEW = "This task still needs answers, and you have not answered it yet."
WHY_RESUMED = "You already hold this task: it stays yours until you submit or skip it."


class TaskError(Exception):
    """A task cannot be submitted or skipped; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass
class Stage:
    name: str
    detail: str
    remaining: int | None = None


@dataclass
class TaskChoice:
    """The outcome of ``next_task``: ``stages`` are for researchers, ``annotator_why`` for the annotator."""

    assignment: Assignment | None
    stages: list[Stage]
    resumed: bool = False
    busy: bool = False

    @property
    def why(self) -> list[dict]:
        return [asdict(s) for s in self.stages]

    @property
    def annotator_why(self) -> str:
        return WHY_RESUMED if self.resumed else WHY_NEW


def annotator_ref(user) -> str:
    return f"user:{user.pk}"


def instance_domain(instance: Instance) -> str | None:
    domain = (instance.metadata or {}).get("domain")
    return domain if isinstance(domain, str) else None


# --------------------------------------------------------------------------------------------- candidates


def _yours(user) -> QuerySet:
    """This person's assignment of the instance of the quota row (``user``: a user or a user id)."""
    return Assignment.objects.filter(instance=OuterRef("instance_id"), user=user)


def _with_previous(rows: QuerySet, user) -> QuerySet:
    """Annotate each quota row with this person's earlier assignment of the instance (kept order, re-lease)."""
    yours = _yours(user)
    return rows.annotate(
        prev_id=Subquery(yours.values("pk")[:1]),
        prev_swapped=Subquery(yours.values("shown_swapped")[:1], output_field=BooleanField()),
        prev_status=Subquery(yours.values("status")[:1]),
    )


def _not_done_by(rows: QuerySet, user) -> QuerySet:
    """Minus instances this person submitted, skipped or holds, or labelled (indexed NOT EXISTS each)."""
    held = [Status.SUBMITTED, Status.SKIPPED, Status.ACTIVE]
    # By the user foreign key (indexed), not the text reference: platform labels carry both.
    labelled = HumanLabel.objects.filter(instance=OuterRef("instance_id"), annotator=user)
    return rows.exclude(Exists(_yours(user).filter(status__in=held))).exclude(Exists(labelled))


def _quota_open(rows: QuerySet, normal_quota: int, expert_quota: int, domains: list[str]) -> QuerySet:
    as_expert = (
        Case(
            When(instance__metadata__domain__in=domains, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
        if domains
        else Value(False, output_field=BooleanField())
    )
    return rows.annotate(as_expert=as_expert).filter(
        Q(as_expert=False, normal__lt=normal_quota) | Q(as_expert=True, expert__lt=expert_quota)
    )


def _routed(project_id: int, source: HumanSource) -> QuerySet:
    gold = GoldAnswer.objects.filter(instance=OuterRef("instance_id"))
    return (
        QuotaState.objects.filter(project=project_id)
        .filter(source.contains("instance_id"))
        .exclude(Exists(gold))
    )


def _open_rows(
    source: HumanSource, project_id: int, user_id: int, normal: int, expert: int, domains: list[str]
) -> QuerySet:
    rows = _not_done_by(_routed(project_id, source), user_id)
    return _quota_open(rows, normal, expert, domains).order_by("pk")


def candidates(ctx: Annotating, source: HumanSource) -> QuerySet:
    """Stages 3-6 as one query over quota rows, oldest instance first."""
    quota = progress.tier_quotas(ctx.project)
    return _open_rows(
        source, ctx.project.pk, ctx.user.pk, quota[Tier.NORMAL], quota[Tier.EXPERT], ctx.expert_domains
    )


def _first_free_candidate(ctx: Annotating, source: HumanSource) -> QuotaState | None:
    """The first open candidate's quota row that nobody else is locking, locked (stages 3-7, one query).

    Asked on every new lease, so it is a prepared query: compiled once per process for each kind of source
    (routing run or researcher queue) and number of expert domains, then run with this request's values.
    """
    quota = progress.tier_quotas(ctx.project)
    values: dict = {
        "project_id": ctx.project.pk,
        "user_id": ctx.user.pk,
        "normal": quota[Tier.NORMAL],
        "expert": quota[Tier.EXPERT],
    }
    if ctx.expert_domains:
        values["domains"] = ctx.expert_domains
    if source.run_id is not None:
        values["run_id"] = source.run_id

    def build(run_id: int | None = None, domains: list[str] = (), **ids) -> QuerySet:
        of_run = source if run_id is None else replace(source, run_id=run_id)
        rows = _open_rows(of_run, domains=list(domains), **ids)
        locked = rows.select_related("instance").select_for_update(skip_locked=True, of=("self",))
        return _with_previous(locked, ids["user_id"])[:1]

    key = ("first-free-candidate", source.run_id is not None, len(ctx.expert_domains))
    found = prepared(key, build, **values)
    return found[0] if found else None


def _stages(ctx: Annotating, source: HumanSource) -> list[Stage]:
    """Names and details of stages 3-6 (no counts: those are computed only when a researcher asks)."""
    quota = progress.tier_quotas(ctx.project)
    tier_text = f"normal quota {quota[Tier.NORMAL]}, expert quota {quota[Tier.EXPERT]}"
    if ctx.expert_domains:
        tier_text += f"; expert for {', '.join(ctx.expert_domains)}"
    return [
        Stage("routed-to-humans", source.description),
        Stage("not-done-by-you", "not submitted, skipped or held by this annotator"),
        Stage("quota-open-for-tier", tier_text),
        Stage("oldest-first", "the lowest instance id first"),
    ]


def explain(ctx: Annotating) -> list[Stage]:
    """The stages with how many instances each leaves for this annotator (researchers' view; counts)."""
    source = instances_for_people(ctx.project, ctx.latest_run)
    _sync_rows(ctx, source)
    stages = _stages(ctx, source)
    routed = _routed(ctx.project.pk, source)
    stages[0].remaining = routed.count()
    stages[1].remaining = _not_done_by(routed, ctx.user).count()
    stages[2].remaining = candidates(ctx, source).count()
    return stages


# ------------------------------------------------------------------------------------------ quota rows sync


def _sync_rows(ctx: Annotating, source: HumanSource) -> bool:
    """Make quota rows and progress rows for the source's instances that lack them, lowest ids first, a
    chunk of each per call.

    Returns whether quota rows were made. Once a source is complete its key is remembered in the settings
    and this costs nothing; instances added to the researcher queue get their rows as they are added.
    """
    missing_rows = ~Exists(QuotaState.objects.filter(instance=OuterRef("pk")))
    missing = list(
        source.instances.filter(missing_rows).order_by("pk").values_list("pk", flat=True)[: counters.CHUNK]
    )
    made = counters.ensure_quota_rows(ctx.project, missing) if missing else 0
    counted = progress.sync_source(ctx.project, source.key, source.instances, progress.CHUNK)
    complete = len(missing) < counters.CHUNK and counted < progress.CHUNK
    if complete and ctx.settings.quota_rows_for != source.key:
        ctx.settings.quota_rows_for = source.key
        ctx.settings.save(update_fields=["quota_rows_for"])
    return made > 0


def _rows_current(ctx: Annotating, source: HumanSource) -> None:
    if ctx.settings.quota_rows_for != source.key:
        _sync_rows(ctx, source)


# --------------------------------------------------------------------------------------------- leases


def _lease_fields(ctx: Annotating, now: datetime) -> dict:
    return {"served_at": now, "expires_at": now + timedelta(minutes=ctx.settings.lease_minutes)}


def _balanced_swap(row: QuotaState, rng: random.Random) -> bool:
    """The less used display order of this instance next; ties at random."""
    plain = row.taken - row.swapped
    if row.swapped != plain:
        return row.swapped < plain
    return rng.random() < 0.5


def _write_lease(ctx: Annotating, row: QuotaState, tier: str, now: datetime, rng, stages) -> Assignment:
    """Take the slot and write the lease (the quota row is locked). Re-leasing keeps the display order."""
    again = row.prev_id is not None
    swapped = bool(row.prev_swapped) if again else _balanced_swap(row, rng)
    counters.take(row.instance_id, tier, swapped)
    fields = {
        "tier": tier,
        "status": Status.ACTIVE,
        "shown_swapped": swapped,
        "why": [asdict(s) for s in stages],
        "finished_at": None,
        "skip_reason": "",
        "label": None,
        "lease_token": secrets.token_urlsafe(24),
        **_lease_fields(ctx, now),
    }
    instance = row.instance
    instance.project = ctx.project
    if again:
        Assignment.objects.filter(pk=row.prev_id).update(**fields)
        return Assignment(pk=row.prev_id, instance=instance, user=ctx.user, **fields)
    return Assignment.objects.create(instance=instance, user=ctx.user, **fields)


def _active_mine_or_expired(user_id: int, now: datetime) -> QuerySet:
    mine_first = Case(When(user_id=user_id, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        Assignment.objects.filter(status=Status.ACTIVE)
        .filter(Q(expires_at__lte=now) | Q(user=user_id))
        .select_related("instance")
        .order_by(mine_first, "expires_at")[:EXPIRED_PER_REQUEST]
    )


def _held_and_expired(user, now: datetime) -> list[Assignment]:
    """This person's active leases and (a bounded batch of) everybody's expired ones, in one prepared query."""
    return prepared(("held-and-expired",), _active_mine_or_expired, user_id=user.pk, now=now)


def reclaim_expired(leases: list[Assignment], now: datetime) -> int:
    """Release expired leases and free their slots; returns how many were released here."""
    released = 0
    for lease in sorted(leases, key=lambda a: a.instance_id):
        with transaction.atomic():
            counters.lock_row(lease.instance.project_id, lease.instance_id)
            changed = Assignment.objects.filter(
                pk=lease.pk, status=Status.ACTIVE, expires_at__lte=now
            ).update(status=Status.RELEASED, finished_at=now)
            if changed:
                counters.give_back(lease.instance_id, lease.tier, lease.shown_swapped)
                released += 1
    return released


def _resume(ctx: Annotating, held: Assignment, now: datetime) -> TaskChoice:
    held.served_at = now
    held.expires_at = _lease_fields(ctx, now)["expires_at"]
    fields = ["served_at", "expires_at"]
    if not held.lease_token:  # a lease from before tokens existed
        held.lease_token = secrets.token_urlsafe(24)
        fields.append("lease_token")
    held.save(update_fields=fields)
    held.instance.project = ctx.project
    stages = [Stage("resume-your-lease", "already held; it comes back until done or skipped")]
    return TaskChoice(held, stages + [Stage(**s) for s in held.why], resumed=True)


def _gold(ctx: Annotating, now: datetime, rng, stages: list[Stage]) -> TaskChoice | None:
    """A gold item this person has not done, leased like any task (no quota applies to gold)."""
    user = ctx.user
    pool = _not_done_by(GoldAnswer.objects.filter(instance__project=ctx.project), user)
    ids = list(pool.values_list("instance_id", flat=True)[:500])
    if not ids:
        return None
    chosen = rng.choice(ids)
    stages = stages + [Stage("leased", "gold item")]
    locked = (
        _with_previous(QuotaState.objects.filter(pk=chosen), user)
        .select_related("instance")
        .select_for_update(of=("self",))
    )
    with transaction.atomic():
        row = locked.first()
        if row is None:  # the gold item's first draw: make its quota row, then lock it
            counters.ensure_quota_rows(ctx.project, [chosen])
            row = locked.get()
        if row.prev_status not in (None, Status.RELEASED):
            return None  # taken by this person in another tab meanwhile
        assignment = _write_lease(ctx, row, Tier.GOLD, now, rng, stages)
    return TaskChoice(assignment, stages)


def _lease_one(ctx: Annotating, source: HumanSource, now: datetime, rng, stages: list[Stage]):
    """Lock the first unlocked open candidate and lease it: a TaskChoice, or None when none was free."""
    with transaction.atomic():
        row = _first_free_candidate(ctx, source)
        if row is None:
            return None
        tier = Tier.EXPERT if row.as_expert else Tier.NORMAL
        final = stages + [Stage("leased", f"{tier} slot on instance {row.instance.external_id}")]
        return TaskChoice(_write_lease(ctx, row, tier, now, rng, final), final)


def _lease_next(ctx: Annotating, now: datetime, rng) -> TaskChoice:
    source = instances_for_people(ctx.project, ctx.latest_run)
    _rows_current(ctx, source)
    stages = _stages(ctx, source)
    for _ in range(LOCK_TRIES):
        try:
            leased = _lease_one(ctx, source, now, rng, stages)
        except IntegrityError:  # this person leased the same instance in another tab just now
            continue
        if leased is not None:
            return leased
        if candidates(ctx, source).exists():
            continue  # every open candidate is locked by someone leasing it right now
        if not _sync_rows(ctx, source):
            return TaskChoice(None, stages + [Stage("leased", NOTHING_LEFT)])
    return TaskChoice(None, stages + [Stage("leased", BUSY)], busy=True)


def next_task(
    user, project: Project, rng: random.Random | None = None, context: Annotating | None = None
) -> TaskChoice:
    """The annotator's next task (``assignment`` None when nothing is left for them)."""
    ctx = context or annotating(user, project)
    rng = rng or random.SystemRandom()
    now = timezone.now()
    leases = _held_and_expired(user, now)
    expired = [a for a in leases if a.expires_at <= now]
    if expired:
        reclaim_expired(expired, now)
    held = [a for a in leases if a.expires_at > now and a.instance.project_id == ctx.project.pk]
    if held:
        return _resume(ctx, held[0], now)
    if ctx.settings.gold_rate > 0 and rng.random() < ctx.settings.gold_rate:
        gold = _gold(ctx, now, rng, [Stage("gold-mix", f"drawn at rate {ctx.settings.gold_rate:g}")])
        if gold is not None:
            return gold
    return _lease_next(ctx, now, rng)


# --------------------------------------------------------------------------------------------- answers


def _context_of(assignment_id: int, user) -> Annotating:
    """For callers without a request context: the gate of the assignment's project (404 when not theirs)."""
    project_id = (
        Assignment.objects.filter(pk=assignment_id, user=user)
        .values_list("instance__project_id", flat=True)
        .first()
    )
    if project_id is None:
        raise TaskError("No such task of yours.", 404)
    return annotating(user, Project.objects.get(pk=project_id))


def _check_token(assignment: Assignment, lease_token: str) -> None:
    if not assignment.lease_token or not secrets.compare_digest(assignment.lease_token, str(lease_token)):
        raise TaskError(
            "This task was handed out again since this page got it (another tab, or an expired lease "
            "re-issued), so this answer may refer to another display order; nothing was stored. "
            "Reload the task and answer it again."
        )


def _assignment_to_lock(assignment_id: int, user_id: int, project_id: int) -> QuerySet:
    mine = Assignment.objects.filter(pk=assignment_id, user=user_id, instance__project=project_id)
    return mine.select_for_update(of=("self",)).order_by("pk")[:1]


def _lock_assignment(assignment_id: int, ctx: Annotating) -> Assignment:
    """The caller's assignment in this project, locked (a prepared query: every submit asks it)."""
    found = prepared(
        ("assignment-to-lock",),
        _assignment_to_lock,
        assignment_id=assignment_id,
        user_id=ctx.user.pk,
        project_id=ctx.project.pk,
    )
    if not found:
        raise TaskError("No such task of yours.", 404)
    return found[0]


def _finished_already(assignment: Assignment) -> None:
    if assignment.status in (Status.SUBMITTED, Status.SKIPPED):
        raise TaskError(f"This task is already {assignment.status}.")


def _store(assignment: Assignment, ctx: Annotating, answer: dict, client_time_ms, now) -> HumanLabel:
    """Validate against the scheme in the order shown, undo it, store the label, close the assignment."""
    canonical = validate_answer(ctx.project.scheme, answer, assignment.shown_swapped)
    elapsed = max(0, int((now - assignment.served_at).total_seconds() * 1000))
    time_ms = elapsed if client_time_ms is None else max(0, min(int(client_time_ms), elapsed))
    label = HumanLabel.objects.create(
        instance_id=assignment.instance_id,
        annotator_ref=annotator_ref(ctx.user),
        annotator=ctx.user,
        preference=canonical.preference,
        neither_valid=canonical.neither_valid,
        aspects=canonical.aspects,
        ratings=canonical.ratings,
        answers=canonical.answers,
        shown_swapped=assignment.shown_swapped,
        time_ms=time_ms,
        flagged_fast=time_ms < ctx.settings.min_seconds * 1000,
        is_gold=assignment.tier == Tier.GOLD,
    )
    Assignment.objects.filter(pk=assignment.pk).update(status=Status.SUBMITTED, finished_at=now, label=label)
    progress.record_submit(assignment.instance_id, assignment.tier, progress.tier_quotas(ctx.project))
    return label


def submit(
    assignment_id: int,
    user,
    answer: dict,
    client_time_ms: int | None = None,
    *,
    lease_token: str,
    context: Annotating | None = None,
) -> HumanLabel:
    """Store an answer for a leased task, if ``lease_token`` is the lease's (else TaskError 409)."""
    ctx = context or _context_of(assignment_id, user)
    now = timezone.now()
    with transaction.atomic():
        assignment = _lock_assignment(assignment_id, ctx)
        _check_token(assignment, lease_token)
        _finished_already(assignment)
        on_time = assignment.expires_at > now or assignment.tier == Tier.GOLD
        if assignment.status == Status.ACTIVE and on_time:
            return _store(assignment, ctx, answer, client_time_ms, now)
    return _submit_late(assignment, ctx, answer, client_time_ms, lease_token)


def _submit_late(assignment: Assignment, ctx: Annotating, answer, client_time_ms, lease_token) -> HumanLabel:
    """An expired lease: stored if a slot of its tier is still open, else released (and that is kept)."""
    now = timezone.now()
    with transaction.atomic():
        row = counters.lock_row(ctx.project, assignment.instance_id)
        assignment = _lock_assignment(assignment.pk, ctx)
        _check_token(assignment, lease_token)
        _finished_already(assignment)
        counted = assignment.status == Status.ACTIVE
        tier = assignment.tier
        if tier == Tier.GOLD or getattr(row, tier) - counted < progress.tier_quotas(ctx.project)[tier]:
            if not counted:
                counters.take(assignment.instance_id, tier, assignment.shown_swapped)
            return _store(assignment, ctx, answer, client_time_ms, now)
        if counted:
            counters.give_back(assignment.instance_id, tier, assignment.shown_swapped)
            Assignment.objects.filter(pk=assignment.pk).update(status=Status.RELEASED, finished_at=now)
    # Raised after the block, so the release it reports is committed.
    raise TaskError("Your lease on this task expired and others completed it meanwhile.")


def skip(
    assignment_id: int, user, reason: str = "", *, lease_token: str, context: Annotating | None = None
) -> Assignment:
    """Give a task back: the slot is free for others and it is never offered to this annotator again."""
    ctx = context or _context_of(assignment_id, user)
    instance_id = Subquery(
        Assignment.objects.filter(pk=assignment_id, user=user, instance__project=ctx.project).values(
            "instance_id"
        )[:1]
    )
    now = timezone.now()
    with transaction.atomic():
        locked = QuotaState.objects.select_for_update().filter(instance_id=instance_id).first()
        assignment = _lock_assignment(assignment_id, ctx)
        if locked is None:  # an instance leased before quota rows existed
            counters.lock_row(ctx.project, assignment.instance_id)
        _check_token(assignment, lease_token)
        _finished_already(assignment)
        if assignment.status == Status.ACTIVE:
            counters.give_back(assignment.instance_id, assignment.tier, assignment.shown_swapped)
        assignment.status = Status.SKIPPED
        assignment.finished_at = now
        assignment.skip_reason = (reason or "")[:255]
        Assignment.objects.filter(pk=assignment.pk).update(
            status=assignment.status, finished_at=now, skip_reason=assignment.skip_reason
        )
    return assignment


# --------------------------------------------------------------------------------------------- progress


def annotator_progress(user, project: Project, context: Annotating | None = None) -> dict:
    """The person's own done / skipped counts and how many tasks are open to them now."""
    mine = Assignment.objects.filter(user=user, instance__project=project).aggregate(
        done=Count("id", filter=Q(status=Status.SUBMITTED)),
        skipped=Count("id", filter=Q(status=Status.SKIPPED)),
    )
    try:
        ctx = context or annotating(user, project)
    except NotAllowed:
        return {**mine, "available": 0}
    source = instances_for_people(ctx.project, ctx.latest_run)
    _rows_current(ctx, source)
    return {**mine, "available": candidates(ctx, source).count()}


PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


@dataclass
class ProgressPage:
    """The project's progress totals (maintained counters) and one page of its routed instances."""

    source: HumanSource
    quota: dict[str, int]
    totals: dict[str, int]
    counting: bool
    rows: list[dict]
    offset: int
    limit: int

    @property
    def done(self) -> int:
        """Submitted answers of the routed instances (normal and expert)."""
        return self.totals[Tier.NORMAL] + self.totals[Tier.EXPERT]

    @property
    def needed(self) -> int:
        return self.totals["instances"] * (self.quota[Tier.NORMAL] + self.quota[Tier.EXPERT])

    @property
    def end(self) -> int:
        return self.offset + len(self.rows)

    @property
    def next_offset(self) -> int | None:
        return self.end if len(self.rows) == self.limit and self.end < self.totals["instances"] else None


def instance_progress(project: Project, source: HumanSource, offset: int, limit: int) -> list[dict]:
    """One page of the source's instances (by instance id) with submitted / active / skipped counts: the
    submitted counts from the progress rows, the others by indexed subqueries on this page's rows only."""
    now = timezone.now()

    def count(**filters):
        sub = (
            Assignment.objects.filter(instance=OuterRef("instance_id"), **filters)
            .order_by()
            .values("instance")
            .annotate(c=Count("id"))
            .values("c")
        )
        return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0))

    rows = (
        ProgressState.objects.filter(project=project, source_key=source.key)
        .select_related("instance")
        .annotate(
            leased=count(status=Status.ACTIVE, expires_at__gt=now),
            skipped=count(status=Status.SKIPPED),
        )
        .order_by("instance_id")[offset : offset + limit]
    )
    return [
        {
            "instance": row.instance.external_id,
            "domain": instance_domain(row.instance),
            "done_normal": row.normal,
            "done_expert": row.expert,
            "leased": row.leased,
            "skipped": row.skipped,
        }
        for row in rows
    ]


def progress_page(project: Project, offset: int = 0, limit: int = PAGE_SIZE) -> ProgressPage:
    """Totals from the maintained counters (a few indexed rows) and the requested page of instances."""
    source = instances_for_people(project)
    totals = progress.totals(project, source.key)
    counting = settings_for(project).quota_rows_for != source.key
    rows = instance_progress(project, source, offset, limit)
    return ProgressPage(source, progress.tier_quotas(project), totals, counting, rows, offset, limit)


@dataclass
class AnnotatorQuality:
    """One annotator's figures for researchers; a skipped gold item counts as a miss in ``gold_accuracy``."""

    username: str
    done: int = 0
    skipped: int = 0
    gold_answered: int = 0
    gold_correct: int = 0
    gold_skipped: int = 0

    @property
    def gold_accuracy(self) -> float | None:
        seen = self.gold_answered + self.gold_skipped
        return self.gold_correct / seen if seen else None

    @property
    def gold_percent(self) -> int | None:
        accuracy = self.gold_accuracy
        return None if accuracy is None else round(100 * accuracy)

    def as_dict(self) -> dict:
        return {
            "annotator": self.username,
            "done": self.done,
            "skipped": self.skipped,
            "gold_answered": self.gold_answered,
            "gold_correct": self.gold_correct,
            "gold_skipped": self.gold_skipped,
            "gold_accuracy": self.gold_accuracy,
        }


def _gold_right(label_preference, label_neither, gold_preference, gold_neither) -> bool:
    if gold_neither or gold_preference is None:
        return bool(label_neither)
    if label_preference is None:
        return False
    return _sign(label_preference) == _sign(gold_preference)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def annotator_quality(project: Project) -> list[AnnotatorQuality]:
    """Per annotator of the project: tasks done and skipped, and gold answered, right and skipped."""
    rows: dict[str, AnnotatorQuality] = {}
    finished = (
        Assignment.objects.filter(instance__project=project, status__in=[Status.SUBMITTED, Status.SKIPPED])
        .values("user__username", "status", "tier")
        .annotate(n=Count("id"))
        .order_by()
    )
    for group in finished:
        row = rows.setdefault(group["user__username"], AnnotatorQuality(group["user__username"]))
        submitted = group["status"] == Status.SUBMITTED
        if submitted:
            row.done += group["n"]
        else:
            row.skipped += group["n"]
        if group["tier"] == Tier.GOLD:
            if submitted:
                row.gold_answered += group["n"]
            else:
                row.gold_skipped += group["n"]
    gold_labels = Assignment.objects.filter(
        instance__project=project, tier=Tier.GOLD, status=Status.SUBMITTED
    ).values_list(
        "user__username",
        "label__preference",
        "label__neither_valid",
        "instance__gold_answer__preference",
        "instance__gold_answer__neither_valid",
    )
    for username, preference, neither, gold_preference, gold_neither in gold_labels:
        rows[username].gold_correct += _gold_right(preference, neither, gold_preference, gold_neither)
    return sorted(rows.values(), key=lambda r: r.username)
