"""Argument helpers shared by the routing commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from annotation.models import Project
from routing.app.models import PPMArtifact


def get_project(name: str) -> Project:
    try:
        return Project.objects.get(name=name)
    except Project.DoesNotExist:
        raise CommandError(f"project {name!r} does not exist") from None


def get_ppm(name: str) -> PPMArtifact:
    try:
        return PPMArtifact.objects.get(name=name)
    except PPMArtifact.DoesNotExist:
        raise CommandError(
            f"PPM artifact {name!r} does not exist (fit one with `manage.py fit_ppm`)"
        ) from None


def parse_budget(text: str) -> int | float:
    """'250' -> 250 instances, '0.25' -> a quarter of the pool."""
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"--budget {text!r}: expected a count (250) or a fraction (0.25)") from None
    if value < 0:
        raise CommandError(f"--budget {text!r} is negative")
    if value.is_integer() and value != 1.0 and "." not in text:
        return int(value)
    if value > 1:
        raise CommandError(f"--budget {text!r}: a fraction must lie in [0, 1]")
    return value
