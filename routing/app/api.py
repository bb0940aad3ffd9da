"""Read-only REST API: routing runs with their decisions, and PPM artifacts.

Least privilege (spec/annotation.md section 2): annotators never see routing decisions. Admins see every
project; researchers see projects where their membership role is researcher.
"""

from __future__ import annotations

from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotation.models import Project
from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun


def researcher_projects(user):
    """Projects whose routing the user may see."""
    profile = getattr(user, "profile", None)
    if user.is_superuser or (profile is not None and profile.role == "admin"):
        return Project.objects.all()
    if profile is None or profile.role != "researcher":
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user, memberships__role="researcher")


class RoutingRunSerializer(serializers.ModelSerializer):
    ppm_name = serializers.CharField(source="ppm.name", read_only=True)

    class Meta:
        model = RoutingRun
        fields = ["id", "project", "budget", "budget_fraction", "strategy", "ppm", "ppm_name",
                  "predicted_performance", "params", "created_at"]  # fmt: skip


class RoutingDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoutingDecision
        fields = ["instance", "route", "gain"]


class RoutingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RoutingRunSerializer

    def get_queryset(self):
        qs = RoutingRun.objects.filter(project__in=researcher_projects(self.request.user)).select_related(
            "ppm"
        )
        project = self.request.query_params.get("project")
        return qs.filter(project_id=project) if project and project.isdigit() else qs

    @action(detail=True, methods=["get"])
    def decisions(self, request, pk=None):
        run = self.get_object()
        page = self.paginate_queryset(run.decisions.order_by("instance_id"))
        data = RoutingDecisionSerializer(page, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class PPMArtifactSerializer(serializers.ModelSerializer):
    class Meta:
        model = PPMArtifact
        fields = ["id", "name", "kind", "mode", "metrics", "metadata", "project", "created_at"]


class PPMArtifactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PPMArtifactSerializer

    def get_queryset(self):
        user = self.request.user
        if not researcher_projects(user).exists() and not user.is_superuser:
            return PPMArtifact.objects.none()
        return PPMArtifact.objects.all()
