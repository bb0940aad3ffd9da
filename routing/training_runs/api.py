"""REST API: start, list, inspect and cancel reward-model runs (and list loops / experiments).

Permissions come from ``annotation.permissions`` only: every endpoint needs a researcher or admin
(``ManagesSomeProject``: annotators get 403, not an empty list) and shows the projects the user manages.
"""

from __future__ import annotations

from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotation.permissions import ManagesSomeProject, can_manage_project, managed_projects
from routing.training_runs import launch, records
from routing.training_runs.models import PPMLoopRun, RewardModelRun, RoutingExperiment


class RewardModelRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = RewardModelRun
        fields = [
            "id",
            "project",
            "dataset_version",
            "kind",
            "loss",
            "backbone",
            "hyperparameters",
            "status",
            "queue",
            "attempts",
            "metrics",
            "artifact_path",
            "logs",
            "error",
            "progress",
            "created_at",
            "finished_at",
        ]
        read_only_fields = ["status", "queue", "attempts", "metrics", "artifact_path", "logs", "error"]

    def get_progress(self, run) -> dict:
        return run.job.progress if run.job_id else {}


class RewardModelRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = RewardModelRunSerializer
    permission_classes = [ManagesSomeProject]

    def get_queryset(self):
        return RewardModelRun.objects.filter(project__in=managed_projects(self.request.user)).select_related(
            "job"
        )

    def create(self, request, *args, **kwargs):
        ser = self.get_serializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        if not can_manage_project(request.user, d["project"]):
            return Response({"project": "not a project you manage"}, status=status.HTTP_403_FORBIDDEN)
        try:
            run = launch.start_reward_model_run(
                d["project"],
                d.get("dataset_version"),
                loss=d.get("loss", "bt"),
                kind=d.get("kind", "transformer"),
                backbone=d.get("backbone", ""),
                hyperparameters=d.get("hyperparameters"),
                user=request.user,
            )
        except records.TrainingError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        records.request_cancel(run)
        run.refresh_from_db()
        return Response(self.get_serializer(run).data)

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        run = self.get_object()
        try:
            launch.resume(run)
        except records.TrainingError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        run.refresh_from_db()
        return Response(self.get_serializer(run).data)


class PPMLoopRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PPMLoopRun
        fields = [
            "id",
            "project",
            "lm_judge",
            "params",
            "status",
            "metrics",
            "logs",
            "error",
            "artifact_path",
        ]


class RoutingExperimentSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoutingExperiment
        fields = ["id", "project", "lm_judge", "params", "status", "summary", "plot_path", "logs", "error"]


class PPMLoopRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PPMLoopRunSerializer
    permission_classes = [ManagesSomeProject]

    def get_queryset(self):
        return PPMLoopRun.objects.filter(project__in=managed_projects(self.request.user))


class RoutingExperimentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RoutingExperimentSerializer
    permission_classes = [ManagesSomeProject]

    def get_queryset(self):
        return RoutingExperiment.objects.filter(project__in=managed_projects(self.request.user))
