"""Home and health pages. The annotation pages live with the workflow app's templates."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

import platform
from annotation import permissions


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = permissions.visible_projects(request.user)
    managed = set(permissions.managed_projects(request.user).values_list("pk", flat=True))
    return render(
        request,
        "frontend/home.html",
        {"projects": projects, "managed": managed, "role": permissions.global_role(request.user)},
    )


def health(request: HttpRequest) -> JsonResponse:
    """Liveness check. It calls the standard-library ``platform`` module (which shares its name with the
    project's package) so a broken import shows here, but answers only "ok": the OS and Python version
    would tell an attacker which exploits to try."""
    platform.python_version()
    return JsonResponse({"status": "ok"})
