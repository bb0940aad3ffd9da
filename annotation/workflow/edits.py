"""Second thoughts: an annotator's recent work, changing a submitted label, and taking back a skip.

A submitted label stays open to its annotator until the project's aggregation is frozen for it, that is
until a dataset version was built from it (a human-sourced row of that instance whose provenance lists the
annotator). Dataset versions are immutable, so a label they used must not change underneath them; after
that the annotator is told so instead.

Every change writes a ``LabelEdit`` (who, when, the old and new stored fields and answer). Agreement
figures are computed from the current labels whenever they are asked for, so an edit counts at once;
stored aggregates of the instance are refreshed right after the edit.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core.schemes import SchemeError
from annotation.datasets.models import Aggregate, DatasetRow
from annotation.datasets.services import refresh_aggregates
from annotation.models import HumanLabel, Project
from annotation.workflow import progress
from annotation.workflow import quota as counters
from annotation.workflow.access import NotAllowed, check_can_annotate
from annotation.workflow.answers import validate_answer
from annotation.workflow.api import (
    ProjectMixin,
    invalid_body_response,
    not_allowed_response,
    scheme_error_response,
)
from annotation.workflow.assignment import TaskError
from annotation.workflow.models import Assignment, LabelEdit, SkipReason
from annotation.workflow.settings_store import settings_for

Status = Assignment.Status
RECENT = 20
LABEL_FIELDS = ("preference", "neither_valid", "aspects", "ratings", "answers")


# ------------------------------------------------------------------------------------------ rules


def frozen_reason(label: HumanLabel) -> str | None:
    """Why ``label`` can no longer change (a dataset version used it), or None while it is open."""
    rows = DatasetRow.objects.filter(
        instance_id=label.instance_id, source=DatasetRow.Source.HUMAN
    ).select_related("version")
    for row in rows:
        if label.annotator_ref in (row.provenance or {}).get("annotators", []):
            return f"dataset version {row.version.name!r} was built from this answer; it can no longer change"
    return None


def recent_work(user, project: Project, limit: int = RECENT) -> list[dict[str, Any]]:
    """The annotator's latest submitted and skipped tasks in ``project``, newest first, with what is allowed."""
    rows = (
        Assignment.objects.filter(
            user=user, instance__project=project, status__in=[Status.SUBMITTED, Status.SKIPPED]
        )
        .select_related("instance", "label")
        .order_by("-finished_at", "-id")[:limit]
    )
    reasons = dict(SkipReason.choices)
    out = []
    for row in rows:
        frozen = frozen_reason(row.label) if row.label is not None else None
        out.append(
            {
                "task": row.pk,
                "instance": row.instance.external_id,
                "status": row.status,
                "finished_at": row.finished_at,
                "skip_reason": reasons.get(row.skip_reason, row.skip_reason),
                "edits": row.label.edits.count() if row.label is not None else 0,
                "editable": row.label is not None and frozen is None,
                "frozen": frozen,
                "can_unskip": row.status == Status.SKIPPED,
            }
        )
    return out


def _snapshot(label: HumanLabel) -> dict[str, Any]:
    return {name: getattr(label, name) for name in LABEL_FIELDS}


def _own_assignment(assignment_id: int, user, project: Project) -> Assignment:
    found = (
        Assignment.objects.filter(pk=assignment_id, user=user, instance__project=project)
        .select_related("instance__project", "label")
        .first()
    )
    if found is None:
        raise TaskError("No such task of yours in this project.", 404)
    return found


def edit_label(assignment_id: int, user, project: Project, answer: Any) -> HumanLabel:
    """Replace the answer of a submitted task (TaskError when it is not submitted or already frozen)."""
    check_can_annotate(user, project)
    assignment = _own_assignment(assignment_id, user, project)
    if assignment.status != Status.SUBMITTED or assignment.label is None:
        raise TaskError(f"Only a submitted task can be edited; this one is {assignment.status}.")
    canonical = validate_answer(project.scheme, answer, assignment.shown_swapped)
    with transaction.atomic():
        label = HumanLabel.objects.select_for_update().get(pk=assignment.label_id)
        reason = frozen_reason(label)
        if reason is not None:
            raise TaskError(f"This answer is frozen: {reason}.")
        old = _snapshot(label)
        label.preference = canonical.preference
        label.neither_valid = canonical.neither_valid
        label.aspects = canonical.aspects
        label.ratings = canonical.ratings
        label.answers = canonical.answers
        label.save(update_fields=list(LABEL_FIELDS))
        LabelEdit.objects.create(label=label, assignment=assignment, user=user, old=old, new=_snapshot(label))
    refresh_instance_aggregates(project, label.instance_id)  # after the commit: its own transaction
    return label


def refresh_instance_aggregates(project: Project, instance_id: int) -> None:
    """Recount the stored aggregates of an edited instance (methods it already has; none: nothing stale)."""
    methods = set(
        Aggregate.objects.filter(instance_id=instance_id).values_list("method", flat=True).distinct()
    )
    for method in sorted(m for m in methods if ":" not in m):
        refresh_aggregates(project, method)


def undo_skip(assignment_id: int, user, project: Project, release: int | None = None) -> Assignment:
    """Take a skipped task back under a fresh lease, if its quota still has room for this annotator.

    ``release``: the task the annotator's page was showing when they undid the skip; its lease is given back,
    so that the task taken back is the one shown next (it may come to them again later).

    Follows the quota counters' rule: quota rows are locked first (in instance order), then the assignments,
    and the slot is taken in the same transaction that reactivates the lease (a new lease token: pages
    holding the old one cannot submit for it).
    """
    check_can_annotate(user, project)
    found = _own_assignment(assignment_id, user, project)
    shown = _own_assignment(release, user, project) if release not in (None, assignment_id) else None
    with transaction.atomic():
        rows = {
            i: counters.lock_row(project, i)
            for i in sorted({found.instance_id} | ({shown.instance_id} if shown else set()))
        }
        row = rows[found.instance_id]
        assignment = Assignment.objects.select_for_update(of=("self",)).get(pk=assignment_id)
        if assignment.status != Status.SKIPPED:
            raise TaskError(f"Only a skipped task can be taken back; this one is {assignment.status}.")
        tier = assignment.tier
        if tier != Assignment.Tier.GOLD and getattr(row, tier) >= progress.tier_quotas(project).get(tier, 0):
            raise TaskError("Others have completed this task since you skipped it; it cannot come back.")
        counters.take(assignment.instance_id, tier, assignment.shown_swapped)
        now = timezone.now()
        assignment.status = Status.ACTIVE
        assignment.skip_reason = ""
        assignment.finished_at = None
        assignment.served_at = now
        assignment.expires_at = now + timedelta(minutes=settings_for(project).lease_minutes)
        assignment.lease_token = secrets.token_urlsafe(24)
        assignment.save(
            update_fields=["status", "skip_reason", "finished_at", "served_at", "expires_at", "lease_token"]
        )
        if shown is not None:
            _release(shown.pk, now)
    return assignment


def _release(assignment_id: int, now) -> None:
    """Give back an active lease (its quota row is locked by the caller)."""
    lease = Assignment.objects.select_for_update(of=("self",)).get(pk=assignment_id)
    if lease.status == Status.ACTIVE:
        Assignment.objects.filter(pk=lease.pk).update(status=Status.RELEASED, finished_at=now)
        counters.give_back(lease.instance_id, lease.tier, lease.shown_swapped)


# ------------------------------------------------------------------------------------------ API


class EditSerializer(serializers.Serializer):
    answer = serializers.JSONField()


class UnskipSerializer(serializers.Serializer):
    release = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The task the page shows now (given back)."
    )


def _task_error(error: TaskError) -> Response:
    return Response({"detail": str(error)}, status=error.status)


class RecentTasksView(ProjectMixin, APIView):
    """The caller's own recent submissions and skips, with whether each can still be edited or taken back."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str) -> Response:
        rows = recent_work(request.user, self.get_project())
        for row in rows:
            row["finished_at"] = row["finished_at"].isoformat() if row["finished_at"] else None
        return Response({"tasks": rows})


class EditTaskView(ProjectMixin, APIView):
    """Change the answer of one of the caller's submitted tasks (until a dataset version used it)."""

    @extend_schema(request=EditSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str, task: int) -> Response:
        serializer = EditSerializer(data=request.data)
        if not serializer.is_valid():
            return Response(
                {"detail": "answer: is required", "field": "answer", "errors": serializer.errors}, status=400
            )
        try:
            label = edit_label(task, request.user, self.get_project(), serializer.validated_data["answer"])
        except NotAllowed as error:
            return not_allowed_response(error)
        except SchemeError as error:
            return scheme_error_response(error)
        except TaskError as error:
            return _task_error(error)
        return Response({"edited": True, "task": task, "edits": label.edits.count()})


class UnskipTaskView(ProjectMixin, APIView):
    """Take back a skip: the task is leased to the caller again (when its quota still has room)."""

    @extend_schema(request=UnskipSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str, task: int) -> Response:
        serializer = UnskipSerializer(data=request.data)
        if not serializer.is_valid():
            return invalid_body_response(serializer.errors)
        try:
            release = serializer.validated_data.get("release")
            assignment = undo_skip(task, request.user, self.get_project(), release)
        except NotAllowed as error:
            return not_allowed_response(error)
        except TaskError as error:
            return _task_error(error)
        return Response({"unskipped": True, "task": task, "expires_at": assignment.expires_at.isoformat()})


class TaskHistoryView(ProjectMixin, APIView):
    """The edits of one of the caller's own labels, oldest first."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str, task: int) -> Response:
        assignment = get_object_or_404(
            Assignment, pk=task, user=request.user, instance__project=self.get_project()
        )
        edits = LabelEdit.objects.filter(label_id=assignment.label_id) if assignment.label_id else []
        return Response(
            {
                "task": task,
                "edits": [
                    {"at": e.created_at.isoformat(), "old": e.old["answers"], "new": e.new["answers"]}
                    for e in edits
                ],
            }
        )
