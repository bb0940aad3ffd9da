"""Records of reward-model training runs, PPM loops and routing experiments.

Each record points at an ``annotation.Job`` (status for the UI, live progress in the cache) and keeps its
own status, because a run can be cancelled, crash, and be resumed or rerun: every attempt writes to its
own artifact folder and the record is updated in one transaction at the end, so a crash never leaves a
record that claims an artifact it does not have.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    CRASHED = "crashed", "Crashed (worker lost; can be resumed or rerun)"


FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class RunBase(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(
        "annotation.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    queue = models.CharField(max_length=16, default="default")
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    logs = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-id"]


class RewardModelRun(RunBase):
    """One reward model trained on a dataset version (transformer backbone, or the proxy)."""

    class Kind(models.TextChoices):
        TRANSFORMER = "transformer", "Transformer backbone"
        PROXY = "proxy", "Frozen-embedding proxy"

    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRANSFORMER)
    loss = models.CharField(max_length=16, default="bt")
    backbone = models.CharField(max_length=500, blank=True, help_text="Local directory; blank = MiniLM.")
    hyperparameters = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=1000, blank=True)

    def __str__(self) -> str:
        return f"reward model run #{self.pk} ({self.kind}, {self.loss}, {self.status})"


class PPMLoopRun(RunBase):
    """The PPM training loop on the proxy: K candidates measured, a PPM fitted per target."""

    lm_judge = models.CharField(max_length=255)
    params = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(
        max_length=1000,
        blank=True,
        help_text="File of the first fitted PPM; every PPM is a routing.PPMArtifact (metrics['ppm_artifacts']).",
    )

    def __str__(self) -> str:
        return f"PPM loop #{self.pk} ({self.status})"


class PPMTrainingRow(models.Model):
    """One candidate of a loop: its feature vector and every measured score (all subsets kept)."""

    loop = models.ForeignKey(PPMLoopRun, on_delete=models.CASCADE, related_name="rows")
    candidate = models.PositiveIntegerField()
    human_share = models.FloatField()
    features = models.JSONField()
    scores = models.JSONField()

    class Meta:
        ordering = ["loop", "candidate"]
        constraints = [models.UniqueConstraint(fields=["loop", "candidate"], name="one_row_per_candidate")]

    def __str__(self) -> str:
        return f"loop {self.loop_id} candidate {self.candidate}"


class RoutingExperiment(RunBase):
    """100% human / 100% LM / random / routed mixes / random-label control, several seeds."""

    lm_judge = models.CharField(max_length=255)
    params = models.JSONField(default=dict, blank=True)
    rows = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=list, blank=True)
    plot_path = models.CharField(max_length=1000, blank=True)

    def __str__(self) -> str:
        return f"routing experiment #{self.pk} ({self.status})"
