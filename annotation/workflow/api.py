"""The workflow REST API. Managers (researchers of the project, admins) configure; annotators take tasks.

Annotator endpoints only ever return the caller's own state: no other annotator's labels, no LM labels,
no routing decisions.
"""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotation.core.schemes import SchemeError
from annotation.models import Instance, Project
from annotation.workflow import assignment as tasks
from annotation.workflow.access import Annotating, NotAllowed, annotating, annotator_project
from annotation.workflow.models import GoldAnswer, HumanQueueEntry, QualificationAttempt, QualificationItem
from annotation.workflow.payload import task_payload
from annotation.workflow.qualification import (
    QualificationError,
    options_for,
    start_attempt,
    status_of,
    submit_attempt,
)
from annotation.workflow.queue import add_to_queue, instances_for_people
from annotation.workflow.render import render_conversation, render_markdown
from annotation.workflow.serializers import (
    AttemptSubmitSerializer,
    GoldAnswerSerializer,
    HumanQueueSerializer,
    QualificationItemSerializer,
    SkipSerializer,
    TaskSubmitSerializer,
    WorkflowSettingsSerializer,
)
from annotation.workflow.settings_store import settings_for


def scheme_error_response(error: SchemeError) -> Response:
    field = error.field or "answer"
    message = str(error)
    errors = getattr(error, "errors", None) or {field: [message]}  # AnswerErrors: every field at once
    return Response({"detail": message, "field": field, "errors": errors}, status=400)


class ProjectMixin:
    """Resolve /projects/<project>/ among the projects the caller may see (others: 404)."""

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            visible = permissions.visible_projects(self.request.user)
            self._project = get_object_or_404(visible, name=self.kwargs["project"])
        return self._project

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["project"] = self.get_project()
        return context


class AnnotatorMixin(ProjectMixin):
    """The annotator's task endpoints: the project and everything about the caller in one query."""

    def annotating(self) -> Annotating:
        """Raise NotAllowed (or 404 for a project the caller may not see) unless they may annotate it."""
        project = annotator_project(self.request.user, self.kwargs["project"])
        return annotating(self.request.user, project if project is not None else self.get_project())


def invalid_body_response(errors: dict) -> Response:
    """400 naming the first field that is wrong, e.g. 'lease_token: This field is required.'."""
    field = next(iter(errors))
    problem = errors[field][0] if isinstance(errors[field], list) else errors[field]
    return Response({"detail": f"{field}: {problem}", "field": field, "errors": errors}, status=400)


class ManagerMixin(ProjectMixin):
    permission_classes = [permissions.IsProjectManager]


class WorkflowSettingsView(ManagerMixin, generics.RetrieveUpdateAPIView):
    """Qualification policy, lease length, gold rate and speed threshold of a project."""

    serializer_class = WorkflowSettingsSerializer

    def get_object(self):
        return settings_for(self.get_project())


class QualificationItemViewSet(ManagerMixin, viewsets.ModelViewSet):
    """Qualification test items with their expected answers (researchers and admins only)."""

    serializer_class = QualificationItemSerializer
    queryset = QualificationItem.objects.none()  # for the schema; get_queryset scopes to the project

    def get_queryset(self):
        return QualificationItem.objects.filter(project=self.get_project())

    def perform_create(self, serializer) -> None:
        serializer.save(project=self.get_project())


class GoldAnswerViewSet(ManagerMixin, viewsets.ModelViewSet):
    """Known answers of gold instances, which are mixed into annotators' tasks."""

    serializer_class = GoldAnswerSerializer
    queryset = GoldAnswer.objects.none()  # for the schema; get_queryset scopes to the project

    def get_queryset(self):
        return GoldAnswer.objects.filter(instance__project=self.get_project()).select_related("instance")


class HumanQueueView(ManagerMixin, APIView):
    """The researcher's set of instances for people (used until a routing run exists)."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str) -> Response:
        source = instances_for_people(self.get_project())
        entries = HumanQueueEntry.objects.filter(project=self.get_project()).select_related("instance")
        return Response(
            {
                "source": source.description,
                "queued": [{"id": e.instance_id, "external_id": e.instance.external_id} for e in entries],
            }
        )

    @extend_schema(request=HumanQueueSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str) -> Response:
        serializer = HumanQueueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instances = self._instances(serializer.validated_data)
        added = add_to_queue(self.get_project(), instances, request.user)
        return Response(
            {"added": added, "queued": HumanQueueEntry.objects.filter(project=self.get_project()).count()}
        )

    @extend_schema(request=HumanQueueSerializer, responses=OpenApiTypes.OBJECT)
    def delete(self, request: Request, project: str) -> Response:
        serializer = HumanQueueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instances = self._instances(serializer.validated_data)
        removed, _ = HumanQueueEntry.objects.filter(
            project=self.get_project(), instance__in=instances
        ).delete()
        return Response({"removed": removed})

    def _instances(self, data: dict) -> list[Instance]:
        project = self.get_project()
        by_id = list(Instance.objects.filter(project=project, pk__in=data["instance_ids"]))
        by_ext = list(Instance.objects.filter(project=project, external_id__in=data["external_ids"]))
        missing_ids = sorted(set(data["instance_ids"]) - {i.pk for i in by_id})
        missing_ext = sorted(set(data["external_ids"]) - {i.external_id for i in by_ext})
        if missing_ids or missing_ext:
            raise DRFValidationError(
                {"instance_ids": f"not in this project: {missing_ids}"}
                if missing_ids
                else {"external_ids": f"not in this project: {missing_ext}"}
            )
        return list({i.pk: i for i in by_id + by_ext}.values())


def _bounded_int(params, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter between ``low`` and ``high`` (a 400 naming it otherwise)."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DRFValidationError({name: f"{name} must be a whole number, got {raw[:40]!r}"}) from None
    if not low <= value <= high:
        raise DRFValidationError({name: f"{name} must be between {low} and {high}, got {value}"})
    return value


class ProgressView(ManagerMixin, APIView):
    """Totals of the routed instances (maintained counters), one page of instances (``?offset=``,
    ``?limit=`` up to 500, default 100, by instance id) with annotations done vs needed, and per annotator:
    done, skipped and gold figures (a skipped gold item counts as a miss in ``gold_accuracy``).
    ``?explain=<username>``: the task-selection stages for that annotator with how many instances each
    leaves (researcher view)."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str) -> Response:
        project_obj = self.get_project()
        explained = self._explain(project_obj, request.query_params.get("explain"))
        offset = _bounded_int(request.query_params, "offset", 0, 0, 10**9)
        limit = _bounded_int(request.query_params, "limit", tasks.PAGE_SIZE, 1, tasks.MAX_PAGE_SIZE)
        page = tasks.progress_page(project_obj, offset, limit)
        quota = page.quota
        rows = [
            {**row, "needed_normal": quota["normal"], "needed_expert": quota["expert"]} for row in page.rows
        ]
        body = {
            "source": page.source.description,
            "done": page.done,
            "needed": page.needed,
            "routed": page.totals["instances"],
            "complete": page.totals["complete"],
            "counting": page.counting,
            "offset": page.offset,
            "limit": page.limit,
            "next_offset": page.next_offset,
            "instances": rows,
            "annotators": [q.as_dict() for q in tasks.annotator_quality(project_obj)],
        }
        if explained is not None:
            body["explain"] = explained
        return Response(body)

    def _explain(self, project: Project, username: str | None) -> dict | None:
        if username is None:
            return None
        if len(username) > 150:
            raise DRFValidationError({"explain": "a username has at most 150 characters"})
        member = project.memberships.filter(user__username=username, role="annotator").select_related("user")
        found = member.first()
        if found is None:
            raise DRFValidationError({"explain": f"{username!r} is not an annotator of this project"})
        try:
            ctx = annotating(found.user, project)
        except NotAllowed as error:
            return {"annotator": username, "allowed": False, "reason": str(error)}
        stages = [vars(stage) for stage in tasks.explain(ctx)]
        return {"annotator": username, "allowed": True, "stages": stages}


class MyStatusView(ProjectMixin, APIView):
    """The caller's own qualification status and progress in a project."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str) -> Response:
        project_obj = self.get_project()
        body = {"qualification": status_of(request.user, project_obj).as_dict()}
        body["annotator"] = permissions.is_annotator_on(request.user, project_obj)
        if body["annotator"]:
            body["progress"] = tasks.annotator_progress(request.user, project_obj)
        return Response(body)


class QualificationAttemptView(ProjectMixin, APIView):
    """Start (or resume) a qualification attempt: the drawn items, without their expected answers."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str) -> Response:
        project_obj = self.get_project()
        if not permissions.is_annotator_on(request.user, project_obj):
            raise PermissionDenied("Only the project's annotators take its qualification test.")
        try:
            attempt = start_attempt(request.user, project_obj)
        except QualificationError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(attempt_payload(attempt), status=status.HTTP_201_CREATED)


def attempt_payload(attempt: QualificationAttempt) -> dict:
    items = {i.pk: i for i in QualificationItem.objects.filter(pk__in=attempt.item_ids)}
    return {
        "id": attempt.pk,
        "guideline_version": attempt.guideline_version,
        "options": [{"value": v, "label": label} for v, label in options_for(attempt.project)],
        "items": [
            {
                "id": item_id,
                "conversation": render_conversation(items[item_id].prompt, items[item_id].messages),
                "response_a_html": render_markdown(items[item_id].response_a),
                "response_b_html": render_markdown(items[item_id].response_b),
            }
            for item_id in attempt.item_ids
            if item_id in items
        ],
    }


class QualificationSubmitView(ProjectMixin, APIView):
    @extend_schema(request=AttemptSubmitSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str, attempt: int) -> Response:
        found = get_object_or_404(
            QualificationAttempt, pk=attempt, project=self.get_project(), user=request.user
        )
        serializer = AttemptSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                found = QualificationAttempt.objects.select_for_update().get(pk=found.pk)
                result = submit_attempt(found, serializer.validated_data["answers"])
        except SchemeError as error:
            return scheme_error_response(error)
        except QualificationError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "score": result.score,
                "correct": result.correct,
                "total": len(result.item_ids),
                "passed": result.passed,
                "qualification": status_of(request.user, self.get_project()).as_dict(),
            }
        )


def not_allowed_response(error: NotAllowed) -> Response:
    return Response({"detail": str(error), "code": error.code}, status=status.HTTP_403_FORBIDDEN)


NOTHING_NOW = "Nothing is left for you right now."
BUSY_NOW = "Others are taking the last open tasks right now; ask again in a moment."


class NextTaskView(AnnotatorMixin, APIView):
    """Lease the caller's next task. ``task`` is null when nothing is left (``retry`` true: ask again).

    The task carries ``lease_token``, which its submit or skip must send back; ``why`` is one plain sentence
    (annotators are not told about selection stages, gold items, routing or budget)."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str) -> Response:
        try:
            ctx = self.annotating()
            choice = tasks.next_task(request.user, ctx.project, context=ctx)
        except NotAllowed as error:
            return not_allowed_response(error)
        if choice.assignment is None:
            why = BUSY_NOW if choice.busy else NOTHING_NOW
            return Response({"task": None, "retry": choice.busy, "why": why})
        why = choice.annotator_why
        return Response({"task": task_payload(choice.assignment, why), "why": why})


class SubmitTaskView(AnnotatorMixin, APIView):
    """Submit an answer (in shown order) with the task's ``lease_token``; invalid answers are refused naming
    the field, an answer to a lease handed out again since (other tab, expired) with 409."""

    @extend_schema(request=TaskSubmitSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str, task: int) -> Response:
        serializer = TaskSubmitSerializer(data=request.data)
        if not serializer.is_valid():
            return invalid_body_response(serializer.errors)
        data = serializer.validated_data
        try:
            ctx = self.annotating()
            label = tasks.submit(
                task,
                request.user,
                data["answer"],
                data.get("time_ms"),
                lease_token=data["lease_token"],
                context=ctx,
            )
        except NotAllowed as error:
            return not_allowed_response(error)
        except SchemeError as error:
            return scheme_error_response(error)
        except tasks.TaskError as error:
            return Response({"detail": str(error)}, status=error.status)
        return Response({"submitted": True, "task": task, "flagged_fast": label.flagged_fast}, status=201)


class SkipTaskView(AnnotatorMixin, APIView):
    """Give a leased task back (with its ``lease_token``); skips are recorded, gold ones included."""

    @extend_schema(request=SkipSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project: str, task: int) -> Response:
        serializer = SkipSerializer(data=request.data)
        if not serializer.is_valid():
            return invalid_body_response(serializer.errors)
        data = serializer.validated_data
        try:
            ctx = self.annotating()
            tasks.skip(task, request.user, data["reason"], lease_token=data["lease_token"], context=ctx)
        except NotAllowed as error:
            return not_allowed_response(error)
        except tasks.TaskError as error:
            return Response({"detail": str(error)}, status=error.status)
        return Response({"skipped": True, "task": task})
