"""REST API of the judging app: the judge report and starting judge / tag jobs (researchers and admins only).

LM labels are never shown to annotators (docs/METHOD.md, Roles), hence ``can_read_labels`` everywhere.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotation.api.tokens import ExpiringTokenAuthentication
from annotation.judging.endpoints import JobRequestSerializer, job_params
from annotation.judging.models import LMEndpoint
from annotation.judging.services import judge_report
from annotation.judging.tasks import JUDGE_JOB, TAG_JOB, judge_project_task, tag_prompts_task
from annotation.models import Job, Project


class _ProjectView(APIView):
    authentication_classes = [SessionAuthentication, ExpiringTokenAuthentication]

    def project(self, request: Request, name: str) -> Project:
        if not request.user.is_authenticated:
            raise PermissionDenied("Log in first.")
        # Outsiders get the same 404 as for a project that does not exist.
        project = get_object_or_404(permissions.visible_projects(request.user), name=name)
        if not permissions.can_read_labels(request.user, project):
            raise PermissionDenied("Only the project's researchers and admins may see LM judging.")
        return project


class JudgeReport(_ProjectView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str) -> Response:
        return Response(judge_report(self.project(request, project), judge=request.query_params.get("judge")))


class StartJob(_ProjectView):
    """POST {"endpoint": "<name>", "temperature": 0, "max_tokens": 8, "limit": 100} -> 202 with the job id.

    The endpoint is one an admin configured (``GET /api/lm-endpoints/``); any other key than the decoding
    and run options of ``JobRequestSerializer`` is refused with 400 naming it.
    """

    kind = JUDGE_JOB

    @extend_schema(request=JobRequestSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request, project: str) -> Response:
        proj = self.project(request, project)
        serializer = JobRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = Job.objects.create(
            kind=self.kind,
            project=proj,
            created_by=request.user,
            params=job_params(serializer.validated_data),
        )
        task = judge_project_task if self.kind == JUDGE_JOB else tag_prompts_task
        job.enqueue(task)
        return Response({"job": job.pk, "kind": self.kind}, status=status.HTTP_202_ACCEPTED)


class StartTagJob(StartJob):
    kind = TAG_JOB


class LMEndpointSerializer(serializers.ModelSerializer):
    """What researchers may know of an endpoint: no URL, no key variable."""

    class Meta:
        model = LMEndpoint
        fields = ["name", "backend", "model", "max_tokens", "description"]


class LMEndpointList(generics.ListAPIView):
    """The enabled LM endpoints a judge or tag job may name (researchers and admins)."""

    serializer_class = LMEndpointSerializer
    permission_classes = [permissions.ManagesSomeProject]
    queryset = LMEndpoint.objects.filter(enabled=True)
