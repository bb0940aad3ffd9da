"""Shared argument handling of the training commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from annotation.models import Project


def get_project(name: str) -> Project:
    try:
        return Project.objects.get(name=name)
    except Project.DoesNotExist as exc:
        raise CommandError(f"project {name!r} does not exist") from exc
