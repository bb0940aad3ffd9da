from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from annotation import permissions
from annotation.core.schemes import SchemeError, validate_scheme_config
from annotation.importing.readers import FORMATS
from annotation.importing.writer import ON_EXISTING, ON_REPEATED_ANNOTATOR
from annotation.models import HumanLabel, Instance, Job, LMLabel, Project, ProjectMembership, ProjectRole

# Project fields only its researchers and admins see.
MANAGER_ONLY_FIELDS = ("human_budget", "human_budget_fraction")


class ProjectSerializer(serializers.ModelSerializer):
    instance_count = serializers.IntegerField(source="instances.count", read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "scheme",
            "overlap",
            "human_budget",
            "human_budget_fraction",
            "instance_count",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def to_representation(self, instance: Project) -> dict:
        """Annotators see what they annotate, not the budget (it tells how instances were routed)."""
        data = super().to_representation(instance)
        if not self._managed(instance):
            for name in MANAGER_ONLY_FIELDS:
                data.pop(name, None)
        return data

    def _managed(self, project: Project) -> bool:
        request = self.context.get("request")
        if request is None:
            return True  # built by code, not for a request
        if "managed_ids" not in self.context:
            managed = permissions.managed_projects(request.user).values_list("pk", flat=True)
            self.context["managed_ids"] = set(managed)
        return project.pk in self.context["managed_ids"]

    def validate_scheme(self, value):
        try:
            return validate_scheme_config(value)
        except SchemeError as error:
            raise serializers.ValidationError(str(error)) from error

    def validate_overlap(self, value):
        if not isinstance(value, dict) or not all(isinstance(v, int) and v >= 0 for v in value.values()):
            raise serializers.ValidationError("overlap must map tier names to non-negative integers")
        return value

    def validate(self, attrs):
        count = attrs.get("human_budget", getattr(self.instance, "human_budget", None))
        fraction = attrs.get("human_budget_fraction", getattr(self.instance, "human_budget_fraction", None))
        if count is not None and fraction is not None:
            raise serializers.ValidationError("Set the human budget as a count or as a fraction, not both.")
        if fraction is not None and not 0 <= fraction <= 1:
            raise serializers.ValidationError({"human_budget_fraction": "must lie in [0, 1]"})
        return attrs


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.SlugRelatedField(
        source="user", slug_field="username", queryset=get_user_model().objects.all()
    )
    role = serializers.ChoiceField(choices=ProjectRole.choices, default=ProjectRole.ANNOTATOR)

    class Meta:
        model = ProjectMembership
        fields = ["id", "username", "role"]


class InstanceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Instance
        fields = [
            "id",
            "external_id",
            "prompt",
            "messages",
            "response_a",
            "response_b",
            "model_a",
            "model_b",
            "metadata",
        ]


class HumanLabelSerializer(serializers.ModelSerializer):
    instance = serializers.CharField(source="instance.external_id")

    class Meta:
        model = HumanLabel
        fields = [
            "id",
            "instance",
            "annotator_ref",
            "source",
            "preference",
            "neither_valid",
            "aspects",
            "ratings",
            "shown_swapped",
            "time_ms",
            "created_at",
        ]


class LMLabelSerializer(serializers.ModelSerializer):
    instance = serializers.CharField(source="instance.external_id")

    class Meta:
        model = LMLabel
        fields = [
            "id",
            "instance",
            "judge",
            "prompt_version",
            "source",
            "preference",
            "confidence",
            "consistent",
        ]


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=FORMATS, required=False)
    on_existing = serializers.ChoiceField(choices=ON_EXISTING, default="refuse")
    on_repeated_annotator = serializers.ChoiceField(
        choices=ON_REPEATED_ANNOTATOR,
        default="refuse",
        help_text="One annotator voting twice on an item: refuse the file, keep the first or last vote, or keep "
        "every vote as separate annotators.",
    )


class JobSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.name", default=None)
    progress = serializers.DictField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "project",
            "status",
            "progress",
            "params",
            "result",
            "error",
            "created_at",
            "finished_at",
        ]
