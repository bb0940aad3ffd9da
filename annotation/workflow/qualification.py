"""Qualification tests: draw items, score an attempt, decide whether a person may annotate.

Paper 001 used 10 items with obvious answers and a 90% pass mark; both are settings here. Items are judged
on the direction of the overall preference only (A / B / tie / neither), since that is what "obvious" means.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.core.labels import choice_of
from annotation.core.schemes import MULTIPREF_SCALE, NEITHER_VALID, SchemeError
from annotation.models import Project
from annotation.workflow.models import QualificationAttempt, QualificationItem
from annotation.workflow.settings_store import settings_for


class QualificationError(Exception):
    """The attempt cannot start or be scored; the message says why (shown to the annotator)."""


@dataclass
class QualificationStatus:
    required: bool
    passed: bool
    attempts_used: int
    attempts_left: int
    next_attempt_at: datetime | None
    open_attempt: QualificationAttempt | None
    last_score: float | None
    guideline_version: str
    items_available: int

    @property
    def can_start(self) -> bool:
        return (
            not self.passed
            and self.attempts_left > 0
            and self.items_available > 0
            and (self.next_attempt_at is None or self.next_attempt_at <= timezone.now())
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "required": self.required,
            "passed": self.passed,
            "attempts_used": self.attempts_used,
            "attempts_left": self.attempts_left,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "open_attempt": self.open_attempt.pk if self.open_attempt else None,
            "last_score": self.last_score,
            "guideline_version": self.guideline_version,
            "can_start": self.can_start,
        }


def _attempts(project: Project, user, version: str | None):
    attempts = QualificationAttempt.objects.filter(project=project, user=user)
    return attempts.filter(guideline_version=version) if version is not None else attempts


def status_of(user, project: Project) -> QualificationStatus:
    conf = settings_for(project)
    version = conf.guideline_version
    scoped = _attempts(project, user, version if conf.requalify_on_new_version else None)
    finished = list(scoped.exclude(finished_at=None).order_by("finished_at"))
    passed = any(a.passed for a in finished)
    open_attempt = scoped.filter(finished_at=None).order_by("-id").first()
    used = len(finished)
    left = max(0, 1 + conf.retakes - used)
    next_at = None
    if finished and not passed:
        next_at = finished[-1].finished_at + timedelta(minutes=conf.retake_cooldown_minutes)
    return QualificationStatus(
        required=conf.qualification_required,
        passed=passed or not conf.qualification_required,
        attempts_used=used,
        attempts_left=left,
        next_attempt_at=next_at,
        open_attempt=open_attempt,
        last_score=finished[-1].score if finished else None,
        guideline_version=version,
        items_available=QualificationItem.objects.filter(project=project, active=True).count(),
    )


def is_qualified(user, project: Project) -> bool:
    return status_of(user, project).passed


def start_attempt(user, project: Project, rng: random.Random | None = None) -> QualificationAttempt:
    """Resume the open attempt, or draw a new one if the retake policy allows."""
    with transaction.atomic():
        status = status_of(user, project)
        if status.open_attempt is not None:
            return status.open_attempt
        if status.passed:
            raise QualificationError("You have already passed this qualification test.")
        if status.items_available == 0:
            raise QualificationError("This project has no qualification test yet; ask the researchers.")
        if status.attempts_left <= 0:
            raise QualificationError("You have used all your attempts at this qualification test.")
        if status.next_attempt_at and status.next_attempt_at > timezone.now():
            raise QualificationError(
                f"You can retake the test after {status.next_attempt_at:%Y-%m-%d %H:%M} UTC."
            )
        conf = settings_for(project)
        ids = list(
            QualificationItem.objects.filter(project=project, active=True).values_list("pk", flat=True)
        )
        drawn = (rng or random.SystemRandom()).sample(ids, min(conf.items_drawn, len(ids)))
        return QualificationAttempt.objects.create(
            project=project, user=user, guideline_version=conf.guideline_version, item_ids=drawn
        )


def options_for(project: Project) -> list[tuple[str, str]]:
    """The overall-preference options of the project's scheme, as (value, label) in display order."""
    if project.scheme.get("kind") == "helpsteer2":
        return [
            ("-3", "@Response 1 is much better"),
            ("-2", "@Response 1 is better"),
            ("-1", "@Response 1 is slightly better"),
            ("1", "@Response 2 is slightly better"),
            ("2", "@Response 2 is better"),
            ("3", "@Response 2 is much better"),
            (NEITHER_VALID, "Neither response is valid"),
        ]
    return [  # one naming everywhere: the first response shown is "Response 1", the second "Response 2"
        ("A-clearly", "Response 1 is clearly better"),
        ("A-slightly", "Response 1 is slightly better"),
        ("tie", "Tie"),
        ("B-slightly", "Response 2 is slightly better"),
        ("B-clearly", "Response 2 is clearly better"),
    ]


def direction_of(project: Project, value: Any) -> str:
    """A / B / tie / neither for one answer on the project's scale (SchemeError when off the scale)."""
    allowed = {v for v, _ in options_for(project)}
    text = str(value)
    if text not in allowed:
        raise SchemeError(f"{value!r} is not an option; choose one of {sorted(allowed)}", "answer")
    if text == NEITHER_VALID:
        return "neither"
    number = MULTIPREF_SCALE[text] if text in MULTIPREF_SCALE else int(text)
    return choice_of(number)


def submit_attempt(attempt: QualificationAttempt, answers: dict[str, Any]) -> QualificationAttempt:
    """Score an open attempt. Every drawn item must be answered; the message names a missing item."""
    if attempt.finished_at is not None:
        raise QualificationError("This attempt is already finished.")
    project = attempt.project
    items = {i.pk: i for i in QualificationItem.objects.filter(pk__in=attempt.item_ids)}
    correct = 0
    clean: dict[str, str] = {}
    for position, item_id in enumerate(attempt.item_ids, start=1):
        key = str(item_id)
        if key not in answers or answers[key] in ("", None):
            raise SchemeError(f"question {position} is not answered", f"answers.{key}")
        try:
            direction = direction_of(project, answers[key])
        except SchemeError as error:
            raise SchemeError(str(error).split(": ", 1)[-1], f"answers.{key}") from error
        clean[key] = str(answers[key])
        item = items.get(item_id)
        if item is not None and direction == item.expected:
            correct += 1
    conf = settings_for(project)
    total = len(attempt.item_ids)
    attempt.answers = clean
    attempt.correct = correct
    attempt.score = correct / total if total else 0.0
    attempt.passed = attempt.score + 1e-9 >= conf.pass_mark
    attempt.finished_at = timezone.now()
    attempt.save()
    return attempt
