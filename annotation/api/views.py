"""Projects, members, instances, labels, imports and jobs."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotation import permissions
from annotation.api.serializers import (
    HumanLabelSerializer,
    ImportUploadSerializer,
    InstanceSerializer,
    JobSerializer,
    LMLabelSerializer,
    MembershipSerializer,
    ProjectSerializer,
)
from annotation.importing.readers import FORMAT_OF_EXTENSION, FORMATS
from annotation.importing.uploads import refuse_declared_oversize, save_upload
from annotation.models import HumanLabel, Instance, Job, LMLabel, Project, ProjectMembership, project_counts
from annotation.tasks import import_instances_task


class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Projects the user can see; researchers and admins create them and change their settings."""

    serializer_class = ProjectSerializer
    lookup_field = "name"
    permission_classes = [permissions.CanCreateProjects]

    def get_queryset(self):
        return permissions.visible_projects(self.request.user)

    def perform_create(self, serializer) -> None:
        project = serializer.save(created_by=self.request.user)
        ProjectMembership.objects.create(project=project, user=self.request.user, role="researcher")

    def perform_update(self, serializer) -> None:
        if not permissions.can_manage_project(self.request.user, serializer.instance):
            raise PermissionDenied("Only the project's researchers and admins may change it.")
        serializer.save()


class ProjectScopedMixin:
    """Views under /api/projects/<name>/...: the project is resolved once and permission-checked."""

    permission_classes = [permissions.IsProjectManager]

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            user = self.request.user
            self._project = get_object_or_404(permissions.visible_projects(user), name=self.kwargs["project"])
        return self._project


class MembershipViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    serializer_class = MembershipSerializer
    queryset = ProjectMembership.objects.none()  # for the schema; get_queryset scopes it

    def get_queryset(self):
        return ProjectMembership.objects.filter(project=self.get_project()).select_related("user")

    def perform_create(self, serializer) -> None:
        serializer.save(project=self.get_project())


class CountedPagination(LimitOffsetPagination):
    """Limit/offset pages (in id order) whose ``count`` is the project's maintained count
    (``annotation.models.counts``), not a COUNT over a table of a million rows."""

    def paginate_queryset(self, queryset, request, view=None):
        self.total = view.maintained_total() if view is not None else None
        return super().paginate_queryset(queryset, request, view)

    def get_count(self, queryset) -> int:
        return self.total if self.total is not None else super().get_count(queryset)


class InstanceViewSet(ProjectScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = InstanceSerializer
    lookup_field = "external_id"
    queryset = Instance.objects.none()  # for the schema; get_queryset scopes it
    pagination_class = CountedPagination

    def get_queryset(self):
        return Instance.objects.filter(project=self.get_project()).order_by("id")

    def maintained_total(self) -> int:
        return project_counts(self.get_project())["instances"]


class HumanLabelList(ProjectScopedMixin, generics.ListAPIView):
    serializer_class = HumanLabelSerializer
    pagination_class = CountedPagination

    def get_queryset(self):
        labels = HumanLabel.objects.filter(instance__project=self.get_project())
        return labels.select_related("instance").order_by("id")

    def maintained_total(self) -> int:
        return sum(project_counts(self.get_project())["human"].values())


class LMLabelList(ProjectScopedMixin, generics.ListAPIView):
    serializer_class = LMLabelSerializer
    pagination_class = CountedPagination

    def get_queryset(self):
        return (
            LMLabel.objects.filter(instance__project=self.get_project())
            .select_related("instance")
            .order_by("id")
        )

    def maintained_total(self) -> int:
        return sum(row["n"] for row in project_counts(self.get_project())["lm"])


def stored_upload_name(original: str, declared: str | None) -> str:
    """A server-chosen file name: a random stem and the extension of the format (declared, or known from the
    client's extension), never the client's own suffix, so nothing the client names lands on disk."""
    fmt = declared or FORMAT_OF_EXTENSION.get(Path(original).suffix.lower())
    if fmt is None:
        raise ValidationError(
            {
                "format": f"cannot tell the format of {original[:100]!r} from its name; give one of {list(FORMATS)}"
            }
        )
    return f"{uuid.uuid4().hex}.{fmt}"


class ImportView(ProjectScopedMixin, generics.GenericAPIView):
    """Upload a dataset file; the import runs in a Celery task. Poll the returned job for progress."""

    serializer_class = ImportUploadSerializer
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={202: JobSerializer})
    def post(self, request: Request, project: str) -> Response:
        refuse_declared_oversize(request.META.get("CONTENT_LENGTH"))  # before the body is read
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        original = Path(upload.name).name
        target = Path(settings.UPLOAD_DIR) / stored_upload_name(
            original, serializer.validated_data.get("format")
        )
        save_upload(upload, target)
        job = Job.objects.create(
            kind="import",
            project=self.get_project(),
            created_by=request.user,
            params={
                "path": str(target),
                "original_name": original,
                "format": serializer.validated_data.get("format", ""),
                "on_existing": serializer.validated_data["on_existing"],
                "on_repeated_annotator": serializer.validated_data["on_repeated_annotator"],
            },
        )
        job.enqueue(import_instances_task)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Jobs of the projects the user manages now; jobs without a project are admins' only. Having started a
    job grants nothing: a researcher removed from a project no longer sees its jobs."""

    serializer_class = JobSerializer
    queryset = Job.objects.none()  # for the schema; get_queryset scopes it

    def get_queryset(self):
        user = self.request.user
        if permissions.is_admin(user):
            return Job.objects.all()
        return Job.objects.filter(project__in=permissions.managed_projects(user))
