"""Handing out tasks under expiring leases, and taking answers back.

``next_task`` is a small staged pipeline (in the manner of Label Studio's next-task logic); every stage is
named and recorded on the assignment, so a task can say why it was chosen:

1. ``resume-your-lease``   - a task the annotator already holds comes back first (reload, back button);
2. ``gold-mix``            - with probability ``gold_rate``, a gold item the annotator has not done;
3. ``routed-to-humans``    - the instances that need people (latest routing run, else the researcher queue);
4. ``not-done-by-you``     - minus what this annotator submitted, skipped or holds;
5. ``quota-open-for-tier`` - minus instances whose quota for the annotator's tier is full (expert when the
   instance's domain is one of the annotator's expert domains, else normal);
6. ``oldest-first``        - the lowest instance id wins;
7. ``leased``              - the row is locked (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
   database write lock on SQLite), the quota is counted again under the lock, and the lease is written.

Active unexpired leases and submissions both count against the quota, so an instance is never handed out
beyond its quota; expired leases stop counting and the instance returns to the queue.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
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

from annotation.models import HumanLabel, Instance, Project, UserProfile
from annotation.workflow.access import check_can_annotate
from annotation.workflow.answers import validate_answer
from annotation.workflow.models import Assignment, GoldAnswer
from annotation.workflow.queue import instances_for_people
from annotation.workflow.settings_store import settings_for

Status = Assignment.Status
Tier = Assignment.Tier
LOCK_TRIES = 50


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
    assignment: Assignment | None
    stages: list[Stage]

    @property
    def busy(self) -> bool:
        """Nothing could be leased now, but open work is held by others' in-flight requests: ask again."""
        return self.assignment is None and bool(self.stages) and self.stages[-1].detail == BUSY

    @property
    def why(self) -> list[dict]:
        return [asdict(s) for s in self.stages]


def annotator_ref(user) -> str:
    return f"user:{user.pk}"


def counting(now: datetime, prefix: str = "") -> Q:
    """Assignments that occupy a quota slot: submitted, or leased and not yet expired."""
    return Q(**{f"{prefix}status": Status.SUBMITTED}) | Q(
        **{f"{prefix}status": Status.ACTIVE, f"{prefix}expires_at__gt": now}
    )


def _tier_count(tier: str, now: datetime) -> Coalesce:
    sub = (
        Assignment.objects.filter(instance=OuterRef("pk"), tier=tier)
        .filter(counting(now))
        .order_by()
        .values("instance")
        .annotate(c=Count("id"))
        .values("c")
    )
    return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0))


def quotas(project: Project) -> dict[str, int]:
    overlap = project.overlap or {}
    return {Tier.NORMAL: int(overlap.get("normal", 0)), Tier.EXPERT: int(overlap.get("expert", 0))}


def expert_domains(user) -> list[str]:
    profile = UserProfile.objects.filter(user=user).only("expert_domains").first()
    domains = profile.expert_domains if profile else []
    return [d for d in domains if isinstance(d, str)]


def instance_domain(instance: Instance) -> str | None:
    domain = (instance.metadata or {}).get("domain")
    return domain if isinstance(domain, str) else None


def _held_by_user(user, now: datetime) -> QuerySet:
    """Instances this user submitted, skipped or holds now (expired or released leases may come back)."""
    return (
        Assignment.objects.filter(user=user)
        .filter(
            Q(status__in=[Status.SUBMITTED, Status.SKIPPED]) | Q(status=Status.ACTIVE, expires_at__gt=now)
        )
        .values("instance_id")
    )


def _labelled_by_user(user) -> QuerySet:
    return HumanLabel.objects.filter(annotator_ref=annotator_ref(user)).values("instance_id")


def candidates(user, project: Project, now: datetime, stages: list[Stage] | None = None) -> QuerySet:
    """Stages 3-6 as one query set (``stages`` receives their names, details and remaining counts)."""
    record = stages.append if stages is not None else (lambda stage: None)
    source = instances_for_people(project)
    qs = source.instances.exclude(pk__in=GoldAnswer.objects.values("instance_id"))
    record(Stage("routed-to-humans", source.description, qs.count() if stages is not None else None))
    qs = qs.exclude(pk__in=_held_by_user(user, now)).exclude(pk__in=_labelled_by_user(user))
    record(
        Stage(
            "not-done-by-you",
            "not submitted, skipped or held by you",
            qs.count() if stages is not None else None,
        )
    )
    quota = quotas(project)
    domains = expert_domains(user)
    qs = qs.annotate(
        n_normal=_tier_count(Tier.NORMAL, now),
        n_expert=_tier_count(Tier.EXPERT, now),
        as_expert=Case(
            When(metadata__domain__in=domains, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
        if domains
        else Value(False, output_field=BooleanField()),
    ).filter(
        Q(as_expert=False, n_normal__lt=quota[Tier.NORMAL])
        | Q(as_expert=True, n_expert__lt=quota[Tier.EXPERT])
    )
    tier_text = f"normal quota {quota[Tier.NORMAL]}, expert quota {quota[Tier.EXPERT]}"
    if domains:
        tier_text += f"; you are an expert for {', '.join(domains)}"
    record(Stage("quota-open-for-tier", tier_text, qs.count() if stages is not None else None))
    record(Stage("oldest-first", "the lowest instance id first"))
    return qs.order_by("pk")


def _lease_fields(project: Project, now: datetime) -> dict:
    conf = settings_for(project)
    return {"served_at": now, "expires_at": now + timedelta(minutes=conf.lease_minutes)}


def _choose_swap(instance: Instance, now: datetime, rng: random.Random) -> bool:
    """Balance the display order over an instance's annotators: the less used order next, ties at random."""
    rows = Assignment.objects.filter(instance=instance).filter(counting(now))
    swapped = rows.filter(shown_swapped=True).count()
    plain = rows.filter(shown_swapped=False).count()
    if swapped != plain:
        return swapped < plain
    return rng.random() < 0.5


def _write_lease(user, instance: Instance, tier: str, now: datetime, rng, stages: list[Stage]) -> Assignment:
    fields = {
        "tier": tier,
        "status": Status.ACTIVE,
        "shown_swapped": _choose_swap(instance, now, rng),
        "why": [asdict(s) for s in stages],
        "finished_at": None,
        "skip_reason": "",
        "label": None,
        **_lease_fields(instance.project, now),
    }
    assignment, _ = Assignment.objects.update_or_create(instance=instance, user=user, defaults=fields)
    return assignment


def _tier_for(instance: Instance, domains: list[str]) -> str:
    return Tier.EXPERT if instance_domain(instance) in domains else Tier.NORMAL


def _open_slot(instance: Instance, tier: str, now: datetime, exclude_pk: int | None = None) -> bool:
    taken = Assignment.objects.filter(instance=instance, tier=tier).filter(counting(now))
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.count() < quotas(instance.project)[tier]


def _resume(user, project: Project, now: datetime) -> TaskChoice | None:
    held = (
        Assignment.objects.filter(
            user=user, instance__project=project, status=Status.ACTIVE, expires_at__gt=now
        )
        .select_related("instance")
        .order_by("pk")
        .first()
    )
    if held is None:
        return None
    stages = [Stage("resume-your-lease", "you already hold this task; it comes back until done or skipped")]
    held.served_at = now
    held.expires_at = _lease_fields(project, now)["expires_at"]
    held.save(update_fields=["served_at", "expires_at"])
    return TaskChoice(held, stages + [Stage(**s) for s in held.why])


def _gold(user, project: Project, now: datetime, rng, stages: list[Stage]) -> TaskChoice | None:
    pool = (
        Instance.objects.filter(project=project, pk__in=GoldAnswer.objects.values("instance_id"))
        .exclude(pk__in=_held_by_user(user, now))
        .exclude(pk__in=_labelled_by_user(user))
    )
    ids = list(pool.values_list("pk", flat=True)[:500])
    if not ids:
        return None
    instance = Instance.objects.select_related("project").get(pk=rng.choice(ids))
    stages = stages + [Stage("gold-mix", "a check item with a known answer", len(ids))]
    with transaction.atomic():
        Instance.objects.select_for_update().filter(pk=instance.pk).first()
        assignment = _write_lease(
            user, instance, Tier.GOLD, now, rng, stages + [Stage("leased", "gold item")]
        )
    return TaskChoice(assignment, stages + [Stage("leased", "gold item")])


def next_task(user, project: Project, rng: random.Random | None = None) -> TaskChoice:
    """The annotator's next task (``assignment`` None when nothing is left for them)."""
    check_can_annotate(user, project)
    rng = rng or random.SystemRandom()
    now = timezone.now()
    resumed = _resume(user, project, now)
    if resumed is not None:
        return resumed
    stages: list[Stage] = []
    conf = settings_for(project)
    if conf.gold_rate > 0 and rng.random() < conf.gold_rate:
        gold = _gold(user, project, now, rng, [Stage("gold-mix", f"drawn at rate {conf.gold_rate:g}")])
        if gold is not None:
            return gold
    ordered = candidates(user, project, now, stages)
    domains = expert_domains(user)
    tried: list[int] = []
    for attempt in range(LOCK_TRIES):
        outcome = _lease_one(user, ordered.exclude(pk__in=tried), domains, now, rng, stages)
        if isinstance(outcome, TaskChoice):
            return outcome
        if outcome is None:  # every open candidate is locked by someone leasing it right now
            time.sleep(0.005 * (attempt + 1))
        else:
            tried.append(outcome)  # filled between our query and our lock
    return TaskChoice(None, stages + [Stage("leased", BUSY)])


BUSY = "every open candidate is being leased by others right now; ask again"


def _lease_one(user, ordered: QuerySet, domains: list[str], now: datetime, rng, stages: list[Stage]):
    """Lock the first unlocked candidate and lease it: a TaskChoice, the id of a full instance, or None."""
    with transaction.atomic():
        locked = ordered.select_for_update(skip_locked=True).first()
        if locked is None:
            if ordered.exists():
                return None
            return TaskChoice(None, stages + [Stage("leased", "nothing left for you")])
        instance = Instance.objects.select_related("project").get(pk=locked.pk)
        tier = _tier_for(instance, domains)
        if not _open_slot(instance, tier, timezone.now()):
            return instance.pk
        final = stages + [Stage("leased", f"{tier} slot on instance {instance.external_id}")]
        assignment = _write_lease(user, instance, tier, now, rng, final)
        return TaskChoice(assignment, final)


def _locked_assignment(assignment_id: int, user) -> Assignment:
    """Lock the instance row, then the assignment (the order ``next_task`` uses), or raise TaskError."""
    found = (
        Assignment.objects.filter(pk=assignment_id, user=user).values_list("instance_id", flat=True).first()
    )
    if found is None:
        raise TaskError("No such task of yours.", 404)
    Instance.objects.select_for_update().filter(pk=found).first()
    return Assignment.objects.select_for_update().select_related("instance__project").get(pk=assignment_id)


def submit(assignment_id: int, user, answer: dict, client_time_ms: int | None = None) -> HumanLabel:
    """Store an answer for a leased task: validated against the scheme, display order undone."""
    peek = Assignment.objects.filter(pk=assignment_id, user=user).select_related("instance__project").first()
    if peek is None:
        raise TaskError("No such task of yours.", 404)
    project = peek.instance.project
    check_can_annotate(user, project)
    canonical = validate_answer(project.scheme, answer, peek.shown_swapped)
    conf = settings_for(project)
    with transaction.atomic():
        assignment = _locked_assignment(assignment_id, user)
        if assignment.status != Status.ACTIVE:
            raise TaskError(f"This task is already {assignment.status}.")
        now = timezone.now()
        if assignment.expires_at <= now and assignment.tier != Tier.GOLD:
            if not _open_slot(assignment.instance, assignment.tier, now, exclude_pk=assignment.pk):
                assignment.status = Status.RELEASED
                assignment.finished_at = now
                assignment.save(update_fields=["status", "finished_at"])
                raise TaskError("Your lease on this task expired and others completed it meanwhile.")
        elapsed = max(0, int((now - assignment.served_at).total_seconds() * 1000))
        time_ms = elapsed if client_time_ms is None else max(0, min(int(client_time_ms), elapsed))
        label = HumanLabel.objects.create(
            instance=assignment.instance,
            annotator_ref=annotator_ref(user),
            annotator=user,
            preference=canonical.preference,
            neither_valid=canonical.neither_valid,
            aspects=canonical.aspects,
            ratings=canonical.ratings,
            answers=canonical.answers,
            shown_swapped=assignment.shown_swapped,
            time_ms=time_ms,
            flagged_fast=time_ms < conf.min_seconds * 1000,
            is_gold=assignment.tier == Tier.GOLD,
        )
        assignment.status = Status.SUBMITTED
        assignment.finished_at = now
        assignment.label = label
        assignment.save(update_fields=["status", "finished_at", "label"])
    return label


def skip(assignment_id: int, user, reason: str = "") -> Assignment:
    """Give a task back: the slot is free for others and it is never offered to this annotator again."""
    with transaction.atomic():
        assignment = _locked_assignment(assignment_id, user)
        if assignment.status != Status.ACTIVE:
            raise TaskError(f"This task is already {assignment.status}.")
        assignment.status = Status.SKIPPED
        assignment.finished_at = timezone.now()
        assignment.skip_reason = (reason or "")[:255]
        assignment.save(update_fields=["status", "finished_at", "skip_reason"])
    return assignment


def annotator_progress(user, project: Project) -> dict:
    mine = Assignment.objects.filter(user=user, instance__project=project)
    return {
        "done": mine.filter(status=Status.SUBMITTED).count(),
        "skipped": mine.filter(status=Status.SKIPPED).count(),
        "available": candidates(user, project, timezone.now()).count(),
    }


def instance_progress(project: Project) -> QuerySet:
    """Instances that need people, with submitted / active / skipped counts per tier (researcher view)."""
    now = timezone.now()

    def count(**filters):
        sub = (
            Assignment.objects.filter(instance=OuterRef("pk"), **filters)
            .order_by()
            .values("instance")
            .annotate(c=Count("id"))
            .values("c")
        )
        return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0))

    return (
        instances_for_people(project)
        .instances.annotate(
            done_normal=count(tier=Tier.NORMAL, status=Status.SUBMITTED),
            done_expert=count(tier=Tier.EXPERT, status=Status.SUBMITTED),
            leased=count(status=Status.ACTIVE, expires_at__gt=now),
            skipped=count(status=Status.SKIPPED),
        )
        .order_by("pk")
    )
