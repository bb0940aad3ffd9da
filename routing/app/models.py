"""What routing stores: tag values per instance, a project's length edges, PPM artifacts, runs, decisions.

Later features read :class:`RoutingDecision` (which instances go to people, and why) to assign human work and
to build the hybrid dataset.
"""

from __future__ import annotations

from django.db import models

from routing.ppm import PPM, load_ppm


class TagValue(models.Model):
    """One raw tag value of one instance, with the name and version of what computed it."""

    instance = models.ForeignKey("annotation.Instance", on_delete=models.CASCADE, related_name="tag_values")
    tag = models.CharField(max_length=64)
    value = models.FloatField()
    extractor = models.CharField(max_length=64, help_text="What computed it, e.g. 'textual'.")
    extractor_version = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instance_id", "tag"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "tag", "extractor_version"], name="one_value_per_instance_tag_version"
            )
        ]
        indexes = [models.Index(fields=["tag", "extractor_version"])]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.tag}={self.value:.4g} ({self.extractor_version})"


class LengthEdges(models.Model):
    """Length-quantile bin edges fitted once on a project's whole dataset (docs/METHOD.md, Textual tags), so an instance never
    changes bin when routing is re-run."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="length_edges")
    version = models.CharField(
        max_length=128, help_text="Version of the length tags the edges were fitted on."
    )
    edges = models.JSONField(help_text='{"edges": {tag: [q33, q67]}, "n": instances}')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="one_length_edges_per_project_version"
            )
        ]

    def __str__(self) -> str:
        return f"length edges of {self.project_id} ({self.version})"


class PPMArtifact(models.Model):
    """A fitted performance prediction model saved on disk, loadable by name."""

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=[(k, k) for k in ("linear", "quadratic", "lightgbm")])
    mode = models.CharField(max_length=16, default="recommended")
    path = models.CharField(max_length=500)
    metadata = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    project = models.ForeignKey(
        "annotation.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="ppm_artifacts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.mode})"

    def load(self) -> PPM:
        return load_ppm(self.path)


class RoutingRun(models.Model):
    """One routing of a project's instances under a budget by a strategy and a PPM."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="routing_runs")
    budget = models.PositiveIntegerField(help_text="Instances routed to people (count).")
    budget_fraction = models.FloatField(null=True, blank=True, help_text="The budget as asked, when a share.")
    strategy = models.CharField(max_length=32)
    ppm = models.ForeignKey(PPMArtifact, on_delete=models.PROTECT, related_name="runs")
    predicted_performance = models.FloatField()
    params = models.JSONField(default=dict, blank=True, help_text="Seed, K, mode, tag versions, spread...")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"run {self.pk}: {self.project_id} {self.strategy} b={self.budget}"


class RoutingDecision(models.Model):
    class Route(models.TextChoices):
        HUMAN = "human", "Human"
        LM = "lm", "LM"

    run = models.ForeignKey(RoutingRun, on_delete=models.CASCADE, related_name="decisions")
    instance = models.ForeignKey(
        "annotation.Instance", on_delete=models.CASCADE, related_name="routing_decisions"
    )
    route = models.CharField(max_length=8, choices=Route.choices)
    gain = models.FloatField(help_text="Predicted gain of routing this instance alone to people.")

    class Meta:
        ordering = ["run_id", "instance_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "instance"], name="one_decision_per_run_instance")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.instance_id}: {self.route}"
