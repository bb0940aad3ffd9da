"""An instance: one prompt and two responses to compare (docs/METHOD.md, Instance and pool)."""

from __future__ import annotations

from django.db import models

from annotation.models.projects import Project


class Instance(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="instances")
    external_id = models.CharField(
        max_length=255, help_text="The dataset's own id, unique within the project."
    )
    # The prompt as plain text; for multi-turn prompts ``messages`` holds the conversation
    # ([{"role": ..., "content": ...}], last turn the user's) and ``prompt`` its text rendering.
    prompt = models.TextField()
    messages = models.JSONField(null=True, blank=True)
    response_a = models.TextField(blank=True)
    response_b = models.TextField(blank=True)
    model_a = models.CharField(max_length=255, blank=True)
    model_b = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="external_id_unique_in_project")
        ]

    def __str__(self) -> str:
        return f"{self.project.name}/{self.external_id}"
