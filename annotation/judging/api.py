"""REST API of the judging app: the judge report and starting judge / tag jobs (researchers and admins only).

LM labels are never shown to annotators (docs/METHOD.md, Roles), hence ``can_read_labels`` everywhere.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotation.judging.services import judge_report
from annotation.judging.tasks import JUDGE_JOB, TAG_JOB, judge_project_task, tag_prompts_task
from annotation.models import Job, Project
from models.lm.base import BackendError
from models.lm.factory import make_backend


class _ProjectView(APIView):
    authentication_classes = [SessionAuthentication, TokenAuthentication]

    def project(self, request: Request, name: str) -> Project:
        if not request.user.is_authenticated:
            raise PermissionDenied("Log in first.")
        project = get_object_or_404(Project, name=name)
        if not permissions.can_read_labels(request.user, project):
            raise PermissionDenied("Only the project's researchers and admins may see LM judging.")
        return project


class JudgeReport(_ProjectView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str) -> Response:
        return Response(judge_report(self.project(request, project), judge=request.query_params.get("judge")))


class StartJob(_ProjectView):
    """POST {"config": {...backend config...}, "batch_size": 16, "limit": null} -> 202 with the job id."""

    kind = JUDGE_JOB

    @extend_schema(request=OpenApiTypes.OBJECT, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request, project: str) -> Response:
        proj = self.project(request, project)
        config = request.data.get("config")
        if not isinstance(config, dict):
            raise ValidationError({"config": "a backend configuration object is required"})
        try:
            make_backend(config).close()  # validates keys and values without calling any model
        except BackendError as error:
            raise ValidationError({"config": str(error)}) from error
        params = {
            k: request.data.get(k) for k in ("batch_size", "limit", "dimensions") if request.data.get(k)
        }
        job = Job.objects.create(
            kind=self.kind, project=proj, created_by=request.user, params={"config": config, **params}
        )
        task = judge_project_task if self.kind == JUDGE_JOB else tag_prompts_task
        job.enqueue(task)
        return Response({"job": job.pk, "kind": self.kind}, status=status.HTTP_202_ACCEPTED)


class StartTagJob(StartJob):
    kind = TAG_JOB
