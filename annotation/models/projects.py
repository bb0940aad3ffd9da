"""Projects, their members and the platform-wide role of each user.

Roles are enforced in one place (``annotation.permissions``); these models only store them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from annotation.core.schemes import SchemeError, default_scheme_config, validate_scheme_config


class Role(models.TextChoices):
    """Platform-wide role. Admins see everything; researchers own projects; annotators label."""

    ANNOTATOR = "annotator", "Annotator"
    RESEARCHER = "researcher", "Researcher"
    ADMIN = "admin", "Admin"


class ProjectRole(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    RESEARCHER = "researcher", "Researcher"


class UserProfile(models.Model):
    """What the platform knows about a person beyond Django's ``User``."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    # Expert domains (the 11 Prolific domains, docs/METHOD.md); empty = normal tier only.
    expert_domains = models.JSONField(default=list, blank=True)
    excluded = models.BooleanField(
        default=False, help_text="Excluded annotators' labels are left out of aggregation."
    )

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


def _default_overlap() -> dict:
    # Paper 001: each routed instance gets 4 annotations, 2 from normal annotators and 2 from experts.
    return {"normal": 2, "expert": 2}


class Project(models.Model):
    """A dataset of instances, how people annotate it and how much human labelling it may buy."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    scheme = models.JSONField(default=default_scheme_config, help_text="Annotation scheme configuration.")
    overlap = models.JSONField(
        default=_default_overlap, help_text="Annotations needed per routed instance, per tier."
    )
    human_budget = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many instances may go to people (count)."
    )
    human_budget_fraction = models.FloatField(
        null=True, blank=True, help_text="Or the budget as a share of the instances, 0..1."
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="projects", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            validate_scheme_config(self.scheme)
        except SchemeError as error:
            raise ValidationError({"scheme": str(error)}) from error
        if not isinstance(self.overlap, dict) or not all(
            isinstance(v, int) and v >= 0 for v in self.overlap.values()
        ):
            raise ValidationError({"overlap": "overlap must map tier names to non-negative integers"})
        if self.human_budget is not None and self.human_budget_fraction is not None:
            raise ValidationError("Set the human budget as a count or as a fraction, not both.")
        if self.human_budget_fraction is not None and not 0 <= self.human_budget_fraction <= 1:
            raise ValidationError({"human_budget_fraction": "must lie in [0, 1]"})

    def budget_count(self, n_instances: int) -> int | None:
        """The human budget as a number of instances, whichever way it was set."""
        if self.human_budget is not None:
            return min(self.human_budget, n_instances)
        if self.human_budget_fraction is not None:
            return round(self.human_budget_fraction * n_instances)
        return None


class ProjectMembership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ProjectRole.choices, default=ProjectRole.ANNOTATOR)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"
