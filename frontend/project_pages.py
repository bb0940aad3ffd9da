"""The researcher's project setup and results pages.

Setup: create a project with its annotation scheme, upload a file (the page sends it to the import API,
``POST /api/projects/<name>/imports/``, and follows the returned job live), and manage members and their
roles (validated by the API's ``MembershipSerializer``). Results: annotation progress per tier, reward-model
training runs on a dataset version with their evaluation side by side. Every change goes through the same
serializers and services as the REST API, so the rules are the API's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation import permissions
from annotation.api.serializers import MembershipSerializer, ProjectSerializer
from annotation.core.schemes import HELPSTEER2, MULTIPREF, default_scheme_config
from annotation.datasets.models import DatasetVersion
from annotation.importing.readers import FORMATS as IMPORT_FORMATS
from annotation.models import Job, ProjectMembership
from annotation.workflow.views import strict_csp
from frontend.access import managed_project
from frontend.form_errors import error_texts
from frontend.progress import project_progress
from routing.training_runs import launch
from routing.training_runs.models import RewardModelRun, RoutingExperiment
from routing.training_runs.records import TrainingError

SCHEMES = {
    MULTIPREF: "MultiPref (5-point preference per aspect, reasons)",
    HELPSTEER2: "HelpSteer2 (0-4 ratings, 7-option preference)",
}
ON_EXISTING = ("refuse", "update", "skip")
RM_KINDS = ("proxy", "transformer")
RM_LOSSES = ("bt", "margin_bt", "scaled_bt")


@login_required
@strict_csp
@require_http_methods(["GET", "POST"])
def new_project(request: HttpRequest) -> HttpResponse:
    """Create a project (name, description, scheme); its creator becomes its researcher."""
    if not permissions.can_create_projects(request.user):
        raise PermissionDenied("Only researchers and admins may create projects.")
    values: dict[str, str] = {}
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in ("name", "description", "scheme")}
        kind = values["scheme"] if values["scheme"] in SCHEMES else None
        data = {"name": values["name"], "description": values["description"][:2000]}
        given = ProjectSerializer(data={**data, "scheme": default_scheme_config(kind)} if kind else data)
        if kind is None:
            messages.error(request, f"Scheme: choose one of {', '.join(SCHEMES)}.")
        elif not given.is_valid():
            for field, problems in given.errors.items():
                messages.error(request, f"{field}: {' '.join(error_texts(problems))}")
        else:
            project = given.save(created_by=request.user)
            ProjectMembership.objects.create(project=project, user=request.user, role="researcher")
            messages.success(request, f"Created project {project.name}. Upload its instances next.")
            return redirect(reverse("project-setup", args=[project.name]))
    return render(request, "frontend/new_project.html", {"schemes": SCHEMES, "values": values})


def _import_jobs(project) -> list[Job]:
    return list(Job.objects.filter(project=project, kind="import").order_by("-id")[:5])


@login_required
@strict_csp
@require_http_methods(["GET"])
def setup(request: HttpRequest, project: str) -> HttpResponse:
    """Upload instances (live import progress, the importer's error sentences) and manage members."""
    project_obj = managed_project(request, project)
    context = {
        "project": project_obj,
        "instances": project_obj.instances.count(),
        "imports": _import_jobs(project_obj),
        "formats": IMPORT_FORMATS,
        "on_existing": ON_EXISTING,
        "members": ProjectMembership.objects.filter(project=project_obj)
        .select_related("user")
        .order_by("user__username"),
        "scheme": project_obj.scheme.get("kind", MULTIPREF) if isinstance(project_obj.scheme, dict) else "",
    }
    return render(request, "frontend/setup.html", context)


@login_required
@require_POST
def add_member(request: HttpRequest, project: str) -> HttpResponse:
    """Add a member or change their role (the API's membership rules)."""
    project_obj = managed_project(request, project)
    username = request.POST.get("username", "").strip()[:150]
    existing = ProjectMembership.objects.filter(project=project_obj, user__username=username).first()
    given = MembershipSerializer(
        instance=existing, data={"username": username, "role": request.POST.get("role", "")}
    )
    if given.is_valid():
        given.save(project=project_obj)
        messages.success(
            request, f"{username} is now a {given.validated_data['role']} of {project_obj.name}."
        )
    else:
        for field, problems in given.errors.items():
            messages.error(request, f"Member {field}: {' '.join(error_texts(problems))}")
    return redirect(reverse("project-setup", args=[project_obj.name]) + "#members")


@login_required
@require_POST
def remove_member(request: HttpRequest, project: str, member: int) -> HttpResponse:
    """Remove a membership; researchers cannot remove themselves (they would lose the page)."""
    project_obj = managed_project(request, project)
    membership = get_object_or_404(ProjectMembership, project=project_obj, pk=member)
    if membership.user_id == request.user.pk:
        messages.error(request, "Members: you cannot remove yourself; ask another researcher or an admin.")
    else:
        membership.delete()
        messages.success(request, f"Removed {membership.user.username} from {project_obj.name}.")
    return redirect(reverse("project-setup", args=[project_obj.name]) + "#members")


def tier_progress(project) -> list[dict[str, Any]]:
    """Per tier: submitted annotations against what the routed instances need (count x quota)."""
    progress = project_progress(project)
    quota, needed = progress["quota"], progress["needed"]
    return [
        {
            "tier": tier,
            "quota": quota[tier],
            "needed": needed * quota[tier],
            "done": progress["submitted"][tier],
        }
        for tier in ("normal", "expert")
    ]


def _rm_runs(project) -> list[dict[str, Any]]:
    """Reward-model runs with their evaluation flattened into one comparable row each."""
    out = []
    for run in RewardModelRun.objects.filter(project=project).select_related("dataset_version", "job")[:20]:
        metrics = run.metrics or {}
        bench = metrics.get("bench") or {}
        out.append(
            {
                "run": run,
                "heldout": (metrics.get("heldout") or {}).get("accuracy"),
                "heldout_n": (metrics.get("heldout") or {}).get("n"),
                "overall": bench.get("overall"),
                "categories": {
                    k: v
                    for k, v in bench.items()
                    if k not in ("overall", "file", "n", "subsets") and isinstance(v, int | float)
                },
            }
        )
    return out


@login_required
@strict_csp
@require_http_methods(["GET"])
def results(request: HttpRequest, project: str) -> HttpResponse:
    """Annotation progress per tier, reward-model runs and their evaluation, and routing experiments."""
    project_obj = managed_project(request, project)
    runs = _rm_runs(project_obj)
    context = {
        "project": project_obj,
        "tiers": tier_progress(project_obj),
        "versions": DatasetVersion.objects.filter(project=project_obj).order_by("-id"),
        "rm_runs": runs,
        "categories": sorted({c for r in runs for c in r["categories"]}),
        "kinds": RM_KINDS,
        "losses": RM_LOSSES,
        "experiments": RoutingExperiment.objects.filter(project=project_obj).order_by("-id")[:5],
    }
    return render(request, "frontend/results.html", context)


@login_required
@require_POST
def start_training(request: HttpRequest, project: str) -> HttpResponse:
    """Start a reward-model run on one of the project's dataset versions."""
    project_obj = managed_project(request, project)
    version = DatasetVersion.objects.filter(
        project=project_obj, name=request.POST.get("version", "")[:100]
    ).first()
    kind, loss = request.POST.get("kind", "proxy"), request.POST.get("loss", "bt")
    try:
        if version is None:
            raise TrainingError("Version: choose one of the project's dataset versions.")
        if kind not in RM_KINDS or loss not in RM_LOSSES:
            raise TrainingError(f"Kind and loss: choose from {RM_KINDS} and {RM_LOSSES}.")
        run = launch.start_reward_model_run(project_obj, version, loss=loss, kind=kind, user=request.user)
    except TrainingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Started reward-model run #{run.pk} ({kind}, {loss}) on {version.name}.")
    return redirect(reverse("project-results", args=[project_obj.name]) + "#training")
