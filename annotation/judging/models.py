"""What LM judges and taggers answered, one row per call, so runs can resume and every label can be audited.

``LMJudgment`` keeps each response order separately (raw output, parsed verdict or the parse error, decoding
settings, confidence, tokens, time); the reconciled label of both orders goes to ``annotation.LMLabel``.
``PromptTagRecord`` is read by routing (by this name and these fields): normalised answers per dimension.
"""

from __future__ import annotations

from django.db import models


class LMJudgment(models.Model):
    class Order(models.TextChoices):
        AB = "AB", "response_a shown first"
        BA = "BA", "response_b shown first"

    instance = models.ForeignKey("annotation.Instance", on_delete=models.CASCADE, related_name="lm_judgments")
    judge = models.CharField(max_length=255, help_text="Judge name (usually the model).")
    model = models.CharField(max_length=255)
    prompt_version = models.CharField(max_length=64)
    order = models.CharField(max_length=2, choices=Order.choices)
    decoding = models.JSONField(
        default=dict, blank=True, help_text="Mode, temperature, max tokens, seed, backend."
    )
    # null = no output at all (a scoring call); "" = the model answered with nothing.
    raw_output = models.TextField(null=True, blank=True)  # noqa: DJ001
    verdict = models.SmallIntegerField(null=True, blank=True, help_text="Canonical order; null = unparsed.")
    parse_error = models.TextField(blank=True, default="")
    backend_error = models.TextField(blank=True, default="")
    confidence = models.FloatField(null=True, blank=True)
    logprobs = models.JSONField(null=True, blank=True, help_text="Label probabilities when known.")
    details = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "judge", "prompt_version", "order"], name="one_judgment_per_order"
            )
        ]
        indexes = [models.Index(fields=["judge", "prompt_version"])]

    def __str__(self) -> str:
        return f"{self.judge} {self.prompt_version} {self.order} on {self.instance_id}: {self.verdict}"


class PromptTagRecord(models.Model):
    instance = models.ForeignKey("annotation.Instance", on_delete=models.CASCADE, related_name="prompt_tags")
    model = models.CharField(max_length=255)
    prompt_version = models.CharField(max_length=64)
    answers = models.JSONField(default=dict, help_text='{dimension: normalised label list or "unknown"}')
    raw = models.JSONField(default=dict, help_text="{dimension: raw output}")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "model", "prompt_version"], name="one_tag_record_per_tagger"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.prompt_version} on {self.instance_id}"
