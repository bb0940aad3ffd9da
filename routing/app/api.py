"""Read-only REST API: routing runs with their decisions, and PPM artifacts.

Least privilege (docs/METHOD.md, Roles): annotators never see routing decisions. Admins see every
project; researchers see projects where their membership role is researcher.
"""

from __future__ import annotations

from django.db.models import Q
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotation.api.params import id_param
from annotation.permissions import ManagesSomeProject, managed_projects
from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun


class RoutingRunSerializer(serializers.ModelSerializer):
    ppm_name = serializers.CharField(source="ppm.name", read_only=True)

    class Meta:
        model = RoutingRun
        fields = [
            "id",
            "project",
            "budget",
            "budget_fraction",
            "strategy",
            "ppm",
            "ppm_name",
            "predicted_performance",
            "params",
            "created_at",
        ]


class RoutingDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoutingDecision
        fields = ["instance", "route", "gain"]


class RoutingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RoutingRunSerializer
    permission_classes = [ManagesSomeProject]

    def get_queryset(self):
        qs = RoutingRun.objects.filter(project__in=managed_projects(self.request.user)).select_related("ppm")
        project = id_param(self.request, "project")
        return qs if project is None else qs.filter(project_id=project)

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
    """PPMs of the projects the user manages, and PPMs not tied to a project (fitted from a table)."""

    serializer_class = PPMArtifactSerializer
    permission_classes = [ManagesSomeProject]

    def get_queryset(self):
        managed = managed_projects(self.request.user)
        return PPMArtifact.objects.filter(Q(project__in=managed) | Q(project__isnull=True))
