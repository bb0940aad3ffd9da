"""Workflow state: per-project settings, qualification items and attempts, the human queue, gold answers and
assignments (leases).

An ``Assignment`` row is one annotator's hold on one instance. It stays after submission (status
``submitted``) so that quotas, display-order balance and "never twice to one person" all read one table;
the unique (instance, user) constraint is the last line of defence against a double assignment.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from annotation.models import HumanLabel, Instance, Project


class WorkflowSettings(models.Model):
    """How people annotate one project: qualification policy, leases, gold rate, speed flagging."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="workflow_settings")
    qualification_required = models.BooleanField(default=True)
    pass_mark = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], help_text="Share correct."
    )
    items_drawn = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)])
    retakes = models.PositiveIntegerField(default=2, help_text="Attempts allowed after the first one.")
    retake_cooldown_minutes = models.PositiveIntegerField(default=60)
    guideline_version = models.CharField(max_length=32, default="1")
    requalify_on_new_version = models.BooleanField(
        default=True, help_text="A new guideline version requires passing the test again."
    )
    lease_minutes = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    gold_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Chance that the next task is a gold item (when one is left for the annotator).",
    )
    min_seconds = models.PositiveIntegerField(
        default=15, help_text="Submissions faster than this are flagged (HumanLabel.flagged_fast)."
    )
    quota_rows_for = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="The source of instances for people whose quota rows are complete ('run:<id>', 'queue').",
    )

    class Meta:
        verbose_name_plural = "workflow settings"

    def __str__(self) -> str:
        return f"workflow settings of {self.project}"


class Expected(models.TextChoices):
    A = "A", "Response A is better"
    B = "B", "Response B is better"
    TIE = "tie", "Tie"
    NEITHER = "neither", "Neither response is valid"


class QualificationItem(models.Model):
    """A test item with an obvious expected answer (the overall preference direction, shown order = stored)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="qualification_items")
    prompt = models.TextField()
    messages = models.JSONField(null=True, blank=True)
    response_a = models.TextField()
    response_b = models.TextField()
    expected = models.CharField(max_length=8, choices=Expected.choices)
    explanation = models.TextField(
        blank=True, help_text="Why the expected answer is right (for researchers)."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.project}: {self.prompt[:40]}"

    def clean(self) -> None:
        kind = (self.project.scheme or {}).get("kind") if self.project_id else None
        if kind == "helpsteer2" and self.expected == Expected.TIE:
            raise ValidationError({"expected": "a HelpSteer2 project has no tie option"})
        if kind == "multipref" and self.expected == Expected.NEITHER:
            raise ValidationError({"expected": "a MultiPref project has no 'neither valid' option"})


class QualificationAttempt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="qualification_attempts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    guideline_version = models.CharField(max_length=32)
    item_ids = models.JSONField(default=list)
    answers = models.JSONField(default=dict, blank=True)
    correct = models.PositiveIntegerField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user} on {self.project}: {self.score}"


class HumanQueueEntry(models.Model):
    """A researcher's choice to send an instance to people, used until the project has a routing run."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="human_queue")
    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, related_name="human_queue_entry")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "human queue entries"

    def __str__(self) -> str:
        return str(self.instance)


class GoldAnswer(models.Model):
    """A known answer for an instance (canonical order); such instances are mixed into annotators' tasks."""

    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, related_name="gold_answer")
    preference = models.SmallIntegerField(null=True, blank=True, help_text="Canonical; null with neither.")
    neither_valid = models.BooleanField(default=False)
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"gold {self.instance}: {self.preference}"

    def clean(self) -> None:
        if (self.preference is None) != self.neither_valid:
            raise ValidationError("give a preference, or mark neither_valid, not both")


class Assignment(models.Model):
    """One annotator's lease on one instance, kept after it ends."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active (leased)"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        RELEASED = "released", "Released"

    class Tier(models.TextChoices):
        NORMAL = "normal", "Normal"
        EXPERT = "expert", "Expert"
        GOLD = "gold", "Gold item"

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    tier = models.CharField(max_length=8, choices=Tier.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    shown_swapped = models.BooleanField(default=False)
    why = models.JSONField(default=list, blank=True, help_text="The selection stages that chose this task.")
    created_at = models.DateTimeField(auto_now_add=True)
    served_at = models.DateTimeField(
        help_text="When the task was last shown (time on task counts from here)."
    )
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=255, blank=True)
    label = models.OneToOneField(
        HumanLabel, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignment"
    )
    lease_token = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Opaque, random per lease: a submit or skip must bring back the token of the lease it answers.",
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["instance", "user"], name="one_assignment_per_user")]
        indexes = [
            models.Index(fields=["instance", "tier", "status"], name="workflow_assign_quota"),
            # A person's done / skipped counts and their held leases.
            models.Index(fields=["user", "status"], name="workflow_assign_user_status"),
            # Expired leases are found among the active ones only (few rows, whatever the history).
            models.Index(
                fields=["expires_at"],
                name="workflow_assign_active_exp",
                condition=models.Q(status="active"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.instance_id} ({self.status})"


class SkipReason(models.TextChoices):
    """Why an annotator gave a task back (one key each on the task page)."""

    UNSURE = "unsure", "Unsure what the right answer is"
    OFFENSIVE = "offensive", "Offensive or disturbing content"
    BROKEN = "broken", "Broken or unreadable task"
    OTHER = "other", "Another reason"


class LabelEdit(models.Model):
    """One change an annotator made to a submitted label, kept so that every answer's history is known.

    ``old`` and ``new`` hold the label's stored fields (canonical preference, neither_valid, aspects,
    ratings) and the answer as given (shown order), before and after the change.
    """

    label = models.ForeignKey(HumanLabel, on_delete=models.CASCADE, related_name="edits")
    assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="label_edits"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    old = models.JSONField(default=dict)
    new = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"edit of label {self.label_id} by {self.user} at {self.created_at:%Y-%m-%d %H:%M}"


class QuotaState(models.Model):
    """How many slots of one instance are taken, per tier, kept in step with its assignments.

    A slot is taken by every assignment that is submitted or active (leased); expired leases are released
    (``assignment.reclaim_expired``) before anyone is handed a task. ``swapped`` counts the taken slots shown
    in swapped order, so that the next lease can balance the display order without counting rows. Every
    change happens in the transaction that changes the assignment, with the row locked; the candidate query
    locks these rows (``FOR UPDATE SKIP LOCKED``), so two people never fill the same last slot.
    ``assignment.rebuild_quota_state`` recomputes them from the assignments.
    """

    instance = models.OneToOneField(
        Instance, primary_key=True, on_delete=models.CASCADE, related_name="quota_state"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    normal = models.PositiveIntegerField(default=0)
    expert = models.PositiveIntegerField(default=0)
    gold = models.PositiveIntegerField(default=0)
    swapped = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["project", "instance"], name="workflow_quota_project")]

    def __str__(self) -> str:
        return f"{self.instance_id}: normal {self.normal}, expert {self.expert}, gold {self.gold}"

    @property
    def taken(self) -> int:
        return self.normal + self.expert + self.gold


class ProgressState(models.Model):
    """Submitted answers of one instance per tier, for one source of instances (a routing run or the queue).

    One row per (instance, source key): a routing run's human instances, or the researcher queue's, get
    their rows when the source is first used (``progress.sync_source``). ``counted`` is set once the row's
    counts were read from the assignments and added to the source's ``ProgressCounter`` rows; from then on
    every submit adds to both in its transaction (``progress.record_submit``). The quota rows
    (``QuotaState``) are a separate table on purpose: they are locked before the assignment, a submit locks
    the assignment first, and these rows after it.
    """

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    source_key = models.CharField(max_length=32, help_text="'run:<id>' or 'queue'.")
    counted = models.BooleanField(default=False)
    normal = models.PositiveIntegerField(default=0)
    expert = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "source_key"], name="workflow_progress_one_per_source"
            )
        ]
        indexes = [
            models.Index(fields=["project", "source_key", "instance"], name="workflow_progress_source")
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} in {self.source_key}: normal {self.normal}, expert {self.expert}"


class ProgressCounter(models.Model):
    """A project's annotation totals for one source of instances, in shards summed when read.

    ``instances``: counted rows of the source; ``complete``: those with every tier's quota of submitted
    answers; ``normal`` / ``expert``: submitted answers per tier. A submit adds to the shard of its instance
    (instance id modulo ``SHARDS``) at the end of its transaction, so concurrent submits rarely wait on one
    row. ``rebuild_quota_counters`` recounts them from the ``ProgressState`` rows.
    """

    SHARDS = 16

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    source_key = models.CharField(max_length=32)
    shard = models.PositiveSmallIntegerField()
    instances = models.BigIntegerField(default=0)
    complete = models.BigIntegerField(default=0)
    normal = models.BigIntegerField(default=0)
    expert = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "source_key", "shard"], name="workflow_progress_counter_shard"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.project_id} {self.source_key} #{self.shard}: {self.complete} of {self.instances} complete"
        )
