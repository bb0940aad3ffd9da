"""Serializers of the workflow API."""

from __future__ import annotations

from rest_framework import serializers

from annotation.models import Instance
from annotation.workflow.models import Expected, GoldAnswer, QualificationItem, WorkflowSettings


class WorkflowSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkflowSettings
        exclude = ["id", "project"]


class QualificationItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = QualificationItem
        fields = ["id", "prompt", "messages", "response_a", "response_b", "expected", "explanation", "active"]

    def validate_expected(self, value: str) -> str:
        project = self.context.get("project")
        kind = (project.scheme or {}).get("kind") if project is not None else None
        if kind == "helpsteer2" and value == Expected.TIE:
            raise serializers.ValidationError("a HelpSteer2 project has no tie option")
        if kind == "multipref" and value == Expected.NEITHER:
            raise serializers.ValidationError("a MultiPref project has no 'neither valid' option")
        return value


class HumanQueueSerializer(serializers.Serializer):
    # Bounded: a 30-digit id used to overflow the database's integer (a 500); 400 names the field instead.
    instance_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
        max_length=100_000,
    )
    external_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, default=list, max_length=100_000
    )

    def validate(self, attrs):
        if not attrs["instance_ids"] and not attrs["external_ids"]:
            raise serializers.ValidationError("give instance_ids or external_ids")
        return attrs


class GoldAnswerSerializer(serializers.ModelSerializer):
    instance = serializers.SlugRelatedField(slug_field="external_id", queryset=Instance.objects.none())

    class Meta:
        model = GoldAnswer
        fields = ["id", "instance", "preference", "neither_valid", "note"]

    def get_fields(self):
        fields = super().get_fields()
        project = self.context.get("project")  # absent when the OpenAPI schema is generated
        fields["instance"].queryset = (
            Instance.objects.filter(project=project) if project is not None else Instance.objects.none()
        )
        return fields

    def validate(self, attrs):
        preference = attrs.get("preference", getattr(self.instance, "preference", None))
        neither = attrs.get("neither_valid", getattr(self.instance, "neither_valid", False))
        if (preference is None) != bool(neither):
            raise serializers.ValidationError({"preference": "give a preference, or neither_valid, not both"})
        return attrs


LEASE_TOKEN_HELP = "The lease_token of the next-task response this answer belongs to."


class TaskSubmitSerializer(serializers.Serializer):
    answer = serializers.JSONField()
    time_ms = serializers.IntegerField(required=False, min_value=0, allow_null=True)
    lease_token = serializers.CharField(max_length=64, help_text=LEASE_TOKEN_HELP)


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    lease_token = serializers.CharField(max_length=64, help_text=LEASE_TOKEN_HELP)


class AttemptSubmitSerializer(serializers.Serializer):
    answers = serializers.DictField(child=serializers.CharField(allow_blank=True))
