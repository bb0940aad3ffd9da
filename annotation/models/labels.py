"""Labels on instances, from people and from LM judges.

Labels that arrive with a dataset and labels collected in the platform live in the same tables, so that
aggregation, agreement and routing treat them the same way; ``source`` only records where they came from.

Preferences are stored in the *canonical* order (response_a, response_b), whatever order was shown:
a signed integer where negative means response_a is better, positive means response_b is better, 0 is a tie,
and the magnitude is the strength on the scheme's scale (MultiPref 1 slight / 2 clear; HelpSteer2 1..3;
imported A/B/tie votes without a strength are -1 / +1 / 0).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotation.models.instances import Instance


class LabelSource(models.TextChoices):
    IMPORTED = "imported", "Imported with the dataset"
    PLATFORM = "platform", "Collected in the platform"


class HumanLabel(models.Model):
    """One person's judgement of one instance."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="human_labels")
    # Imported votes name their annotator by the dataset's id; platform labels also link the user.
    annotator_ref = models.CharField(max_length=255)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="human_labels",
    )
    source = models.CharField(max_length=16, choices=LabelSource.choices, default=LabelSource.PLATFORM)
    preference = models.SmallIntegerField(
        null=True, blank=True, help_text="Canonical order; null = none given."
    )
    neither_valid = models.BooleanField(default=False, help_text='HelpSteer2 "neither response is valid".')
    aspects = models.JSONField(default=dict, blank=True, help_text="Per-aspect canonical preferences.")
    ratings = models.JSONField(default=dict, blank=True, help_text="Per-response attribute ratings.")
    answers = models.JSONField(
        default=dict, blank=True, help_text="The full answer as submitted (shown order)."
    )
    shown_swapped = models.BooleanField(default=False, help_text="True when B was shown first.")
    time_ms = models.PositiveIntegerField(null=True, blank=True)
    flagged_fast = models.BooleanField(default=False)
    is_gold = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "annotator_ref"], name="one_label_per_annotator")
        ]

    def __str__(self) -> str:
        return f"{self.annotator_ref} on {self.instance_id}: {self.preference}"


class LMLabel(models.Model):
    """An LM judge's label of one instance (reconciled over both response orders when judged here)."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="lm_labels")
    judge = models.CharField(max_length=255, help_text="Judge (model) name.")
    prompt_version = models.CharField(max_length=64, blank=True, default="")
    source = models.CharField(max_length=16, choices=LabelSource.choices, default=LabelSource.PLATFORM)
    preference = models.SmallIntegerField(help_text="Canonical order: <0 A better, >0 B better, 0 tie.")
    confidence = models.FloatField(null=True, blank=True)
    consistent = models.BooleanField(
        null=True, blank=True, help_text="Whether both response orders agreed (null: not judged twice)."
    )
    details = models.JSONField(default=dict, blank=True, help_text="Raw outputs, decoding settings, timings.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "judge", "prompt_version"], name="one_lm_label_per_judge_prompt"
            )
        ]

    def __str__(self) -> str:
        return f"{self.judge} on {self.instance_id}: {self.preference}"
