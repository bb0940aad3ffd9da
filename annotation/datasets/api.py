"""REST API of the datasets app: dataset versions, exports (202 + job), downloads, the agreement report.

Every endpoint here is for a project's researchers and admins (``annotation.permissions.can_export``);
annotators and anonymous users get 403. Session authentication is listed first so that an anonymous request
is answered 403 (DRF answers 401 only when the first authenticator sends a WWW-Authenticate challenge).
"""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotation.api.tokens import ExpiringTokenAuthentication
from annotation.core.aggregation import METHODS
from annotation.datasets.exporting import FORMATS, FORMS
from annotation.datasets.models import DatasetVersion
from annotation.datasets.report import agreement_report
from annotation.datasets.tasks import BUILD_JOB, EXPORT_JOB, build_dataset_task, export_dataset_task
from annotation.models import Job, Project


class CanExportProject(BasePermission):
    """Authenticated researcher of the project (or admin). 403 for everyone else, anonymous included."""

    message = "Only the project's researchers and admins may read datasets and export."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        # People outside the project get the same 404 as for a project that does not exist.
        project = permissions.visible_projects(user).filter(name=view.kwargs["project"]).first()
        if project is None:
            raise Http404("no such project")
        if not permissions.can_export(user, project):
            return False
        view.project = project
        return True


class ExportViewMixin:
    authentication_classes = [SessionAuthentication, ExpiringTokenAuthentication]
    permission_classes = [CanExportProject]
    project: Project

    def permission_denied(self, request, message=None, code=None):
        # Anonymous users get 403 like annotators (no challenge: see the module docstring).
        raise PermissionDenied(message or CanExportProject.message)


class DatasetVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetVersion
        fields = ["id", "name", "mode", "params", "counts", "created_at"]
        read_only_fields = fields


class DatasetVersionCreateSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    mode = serializers.ChoiceField(choices=DatasetVersion.Mode.values, default=DatasetVersion.Mode.ROUTING)
    routing_run = serializers.IntegerField(required=False, allow_null=True)
    human_instance_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_null=True
    )
    judge = serializers.CharField(required=False, allow_null=True)
    prompt_version = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    method = serializers.ChoiceField(choices=METHODS, required=False, allow_null=True)


class ExportRequestSerializer(serializers.Serializer):
    formats = serializers.ListField(child=serializers.ChoiceField(choices=FORMATS), default=list(FORMATS))
    forms = serializers.ListField(child=serializers.ChoiceField(choices=FORMS), default=list(FORMS))


class ExportJobSerializer(serializers.ModelSerializer):
    progress = serializers.JSONField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "params",
            "result",
            "error",
            "progress",
            "download_url",
            "created_at",
        ]
        read_only_fields = fields

    def get_download_url(self, job: Job) -> str | None:
        return (job.result or {}).get("download_url") if job.status == Job.Status.SUCCEEDED else None


class DatasetVersionListCreate(ExportViewMixin, generics.GenericAPIView):
    """List the project's dataset versions, or assemble a new (immutable) one."""

    serializer_class = DatasetVersionSerializer

    @extend_schema(responses=DatasetVersionSerializer(many=True), operation_id="projects_datasets_list")
    def get(self, request: Request, project: str) -> Response:
        versions = DatasetVersion.objects.filter(project=self.project)
        page = self.paginate_queryset(versions)
        data = DatasetVersionSerializer(page if page is not None else versions, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(request=DatasetVersionCreateSerializer, responses={202: ExportJobSerializer})
    def post(self, request: Request, project: str) -> Response:
        """Start assembling a version (a job: large projects take minutes). Poll ``/api/jobs/<job_id>/``;
        its result names the version when done."""
        given = DatasetVersionCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        name = given.validated_data["name"]
        if DatasetVersion.objects.filter(project=self.project, name=name).exists():
            raise ValidationError(
                {"detail": f"name: project {self.project.name!r} already has a version {name!r}"}
            )
        job = Job.objects.create(
            kind=BUILD_JOB, project=self.project, created_by=request.user, params=dict(given.validated_data)
        )
        job.enqueue(build_dataset_task)
        return Response({"job_id": job.pk, **ExportJobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)


class DatasetVersionDetail(ExportViewMixin, APIView):
    @extend_schema(responses=DatasetVersionSerializer)
    def get(self, request: Request, project: str, version: str) -> Response:
        found = DatasetVersion.objects.filter(project=self.project, name=version).first()
        if found is None:
            raise Http404("no such dataset version")
        return Response(DatasetVersionSerializer(found).data)


class ExportStart(ExportViewMixin, APIView):
    """Start an export of a version; answers 202 with the job to poll."""

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportJobSerializer})
    def post(self, request: Request, project: str, version: str) -> Response:
        found = DatasetVersion.objects.filter(project=self.project, name=version).first()
        if found is None:
            raise Http404("no such dataset version")
        given = ExportRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        job = Job.objects.create(
            kind=EXPORT_JOB,
            project=self.project,
            created_by=request.user,
            params={"version": found.pk, "version_name": found.name, **given.validated_data},
        )
        job.enqueue(export_dataset_task)
        return Response({"job_id": job.pk, **ExportJobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)


def _export_job(project: Project, job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id, project=project, kind=EXPORT_JOB).first()
    if job is None:
        raise Http404("no such export")
    return job


class ExportStatus(ExportViewMixin, APIView):
    @extend_schema(responses=ExportJobSerializer)
    def get(self, request: Request, project: str, job_id: int) -> Response:
        return Response(ExportJobSerializer(_export_job(self.project, job_id)).data)


class ExportDownload(ExportViewMixin, APIView):
    """The export as a zip archive, or one file of it with ``?file=<name>`` (e.g. pairwise.parquet)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, project: str, job_id: int):
        job = _export_job(self.project, job_id)
        if job.status != Job.Status.SUCCEEDED:
            return Response({"detail": f"export is {job.status}"}, status=status.HTTP_409_CONFLICT)
        name = request.query_params.get("file")
        if name:
            if name not in job.result.get("files", []) or name.endswith("/"):
                raise Http404(f"no file {name!r} in this export")
            path = Path(job.result["dir"]) / name
        else:
            path = Path(job.result["archive"] or "")
        if not path.is_file():
            raise Http404("the export files are gone; start a new export")
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


class AgreementReportView(ExportViewMixin, APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project: str) -> Response:
        method = request.query_params.get("method") or None
        if method is not None and method not in METHODS:
            raise ValidationError({"method": f"expected one of {METHODS}"})
        return Response(agreement_report(self.project, method=method))
