"""Aggregates of human labels, and immutable dataset versions with one provenance-carrying row per instance.

An :class:`Aggregate` is derived data: ``refresh_aggregates`` recomputes it when the hash of its inputs
changes (a new label, an excluded annotator). A :class:`DatasetVersion` is a frozen snapshot: once created,
neither it nor its rows change, so an export made today and one made next month from the same version are
the same data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Aggregate(models.Model):
    """One instance's human labels made one by one method (``majority``, ``helpsteer2``, ``majority:<aspect>``)."""

    instance = models.ForeignKey("annotation.Instance", on_delete=models.CASCADE, related_name="aggregates")
    method = models.CharField(max_length=64)
    inputs = models.JSONField(default=list, help_text="The labels used (canonical order), as aggregated.")
    input_hash = models.CharField(max_length=64, help_text="Hash of inputs + options; a change recomputes.")
    result = models.SmallIntegerField(
        null=True, blank=True, help_text="Canonical preference; null = dropped."
    )
    strength = models.FloatField(default=0.0, help_text="Magnitude used as the pairwise margin.")
    agreement = models.FloatField(
        null=True, blank=True, help_text="Share of inputs agreeing with the result."
    )
    dropped = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["instance_id", "method"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "method"], name="one_aggregate_per_method")
        ]

    def __str__(self) -> str:
        return f"{self.method} of {self.instance_id}: {self.result}"


class ImmutableError(RuntimeError):
    """A dataset version or row was about to be changed after creation."""


class DatasetVersion(models.Model):
    """A named, frozen hybrid dataset of a project.

    ``params``: mode (routing / all_human / all_lm / choice), routing run id, strategy, PPM version, budget,
    LM judge and prompt version, aggregation method. ``counts``: rows, human, lm, ties, and what was left out.
    """

    class Mode(models.TextChoices):
        ROUTING = "routing", "Routed (a routing run's decisions)"
        ALL_HUMAN = "all_human", "All human"
        ALL_LM = "all_lm", "All LM"
        CHOICE = "choice", "Researcher's choice of instances for people"

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="dataset_versions"
    )
    name = models.SlugField(max_length=100)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    params = models.JSONField(default=dict)
    counts = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="version_name_unique_in_project")
        ]

    def __str__(self) -> str:
        return f"{self.project.name}/{self.name}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ImmutableError(f"dataset version {self} is immutable once created; create a new version")
        super().save(*args, **kwargs)


class DatasetRow(models.Model):
    """The final label of one instance in a version, and where it came from."""

    class Source(models.TextChoices):
        HUMAN = "human", "Human aggregate"
        LM = "lm", "LM judge"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="rows")
    instance = models.ForeignKey("annotation.Instance", on_delete=models.CASCADE, related_name="+")
    preference = models.SmallIntegerField(help_text="Final canonical preference (0 = tie).")
    strength = models.FloatField(default=0.0)
    source = models.CharField(max_length=8, choices=Source.choices)
    provenance = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["version", "instance"], name="one_row_per_instance")]

    def __str__(self) -> str:
        return f"{self.version_id}/{self.instance_id}: {self.preference} ({self.source})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ImmutableError("dataset rows are immutable once created")
        super().save(*args, **kwargs)
