"""The researcher's project dashboard: settings, counts, routing runs, judge and human agreement, dataset
versions, exports and jobs of one project, on one server-rendered page.

Everything shown is read from the stored records or computed by the services that already exist (the
workflow's progress query, the judging report, the datasets' agreement report); the page only arranges it.
Changes go through the same rules as the API: the budget form is validated by the API's
``ProjectSerializer`` and an export is the datasets app's job and task. Only the project's researchers and
admins (``permissions.can_manage_project``) may see or change anything here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation.api.serializers import ProjectSerializer
from annotation.datasets.api import DatasetVersionCreateSerializer, ExportRequestSerializer
from annotation.datasets.exporting import FORMATS
from annotation.datasets.models import DatasetVersion
from annotation.datasets.report import agreement_report
from annotation.datasets.tasks import BUILD_JOB, EXPORT_JOB, build_dataset_task, export_dataset_task
from annotation.judging.services import judge_report
from annotation.models import Job, LabelSource, Project, project_counts
from annotation.workflow.views import strict_csp
from frontend.access import managed_project
from frontend.form_errors import error_lines, error_texts
from frontend.progress import project_progress
from routing.app.models import PPMArtifact, RoutingRun
from routing.app.tasks import TAGS_JOB
from routing.training_runs.models import PPMLoopRun

# The tiers every project has (``progress.tier_quotas`` reads these two); a project may name more.
BASE_TIERS = ("normal", "expert")
FIELD_LABELS = {
    "human_budget": "Human budget (count)",
    "human_budget_fraction": "Human budget (fraction)",
    "overlap": "Overlap per tier",
    "non_field_errors": "Human budget",
}
# Readable names of ``agreement_report(...)["human"]``'s keys; a key not named here is shown as it is.
HUMAN_STAT_LABELS = {
    "pairable_instances": "Instances with 2+ labels",
    "unanimous_direction": "Unanimous direction (share)",
    "percent_agreement": "Percent agreement",
    "alpha_nominal": "Krippendorff's alpha (nominal)",
    "alpha_ordinal": "Krippendorff's alpha (ordinal)",
    "kappa_mean_pairwise": "Cohen's kappa (mean pairwise)",
    "kappa_quadratic_mean_pairwise": "Quadratic-weighted kappa (mean pairwise)",
    "alpha_interval": "Krippendorff's alpha (interval, full scale)",
    "alpha_ordinal_scale": "Krippendorff's alpha (ordinal, full scale)",
}
RECENT_RUNS = 20
RECENT_JOBS = 15


def _tiers(project: Project) -> list[str]:
    return list(BASE_TIERS) + sorted(set(project.overlap or {}) - set(BASE_TIERS))


def _settings_data(post, project: Project) -> dict[str, Any]:
    """The form's POST as the serializer's input: blanks are "not set"; a tier count that is not an integer
    is passed on as given, so that the serializer's own overlap rule rejects it."""

    def blank_to_none(key: str) -> str | None:
        value = post.get(key, "").strip()
        return value or None

    overlap: dict[str, Any] = {}
    for tier in _tiers(project):
        raw = post.get(f"overlap_{tier}", "").strip()
        try:
            overlap[tier] = int(raw)
        except ValueError:
            overlap[tier] = raw
    return {
        "human_budget": blank_to_none("human_budget"),
        "human_budget_fraction": blank_to_none("human_budget_fraction"),
        "overlap": overlap,
    }


def _update_settings(request: HttpRequest, project: Project) -> tuple[bool, dict]:
    """Validate and save the budget and overlap; returns (saved, the form's state to show again)."""
    data = _settings_data(request.POST, project)
    serializer = ProjectSerializer(instance=project, data=data, partial=True)
    if serializer.is_valid():
        serializer.save()
        messages.success(request, "Saved the human budget and the overlap per tier.")
        return True, {}
    errors = error_lines(serializer.errors)
    for field, text in errors.items():
        messages.error(request, f"{FIELD_LABELS.get(field, field)}: {text} Nothing was changed.")
    project.refresh_from_db()
    return False, {"values": request.POST, "errors": errors}


def _label_counts(project: Project) -> dict[str, Any]:
    """Instances and labels from the maintained counts (one indexed read, whatever the project's size)."""
    counts = project_counts(project)
    human = counts["human"]
    return {
        "instances": counts["instances"],
        "human_imported": human.get(LabelSource.IMPORTED, 0),
        "human_platform": human.get(LabelSource.PLATFORM, 0),
        "human_total": sum(human.values()),
        "lm_by_judge": counts["lm"],
        "tags": _tag_state(project),
    }


def _tag_state(project: Project) -> dict[str, Any] | None:
    """How far the newest tags job got (instances tagged of the project's instances at its start), read
    from the job's own progress instead of counting tag values (nine per instance)."""
    job = Job.objects.filter(project=project, kind=TAGS_JOB).order_by("-id").first()
    if job is None:
        return None
    tagged = (job.result or {}).get("instances") if job.status == Job.Status.SUCCEEDED else None
    if isinstance(tagged, int):
        return {"job": job, "done": tagged, "total": tagged}
    progress = job.progress
    return {"job": job, "done": progress.get("done"), "total": progress.get("total")}


def _routing_runs(project: Project, instances: int) -> list[RoutingRun]:
    """The newest runs with their human share: people got ``budget`` instances (the route stores exactly
    as many human decisions) of the project's instances (one decision each when it was routed; counting
    a million decisions per run is what this page must not do)."""
    runs = list(
        RoutingRun.objects.filter(project=project)
        .select_related("ppm")
        .order_by("-created_at", "-id")[:RECENT_RUNS]
    )
    for run in runs:
        run.human, run.decided = run.budget, instances
        run.human_share = run.human / run.decided if run.decided else None
    return runs


def _jobs(project: Project) -> list[Job]:
    jobs = list(Job.objects.filter(project=project).order_by("-id")[:RECENT_JOBS])
    for job in jobs:
        succeeded_export = job.kind == EXPORT_JOB and job.status == Job.Status.SUCCEEDED
        job.download_url = (job.result or {}).get("download_url") if succeeded_export else None
    return jobs


def _curve_state(project: Project) -> dict[str, Any]:
    """The newest PPM (its budget curve is drawn from it) and the newest PPM loop (its live progress)."""
    loop = PPMLoopRun.objects.filter(project=project).select_related("job").order_by("-id").first()
    return {
        "ppm": PPMArtifact.objects.filter(project=project).order_by("-id").first(),
        "loop": loop,
        "loop_job": loop.job if loop else None,
    }


def _context(request: HttpRequest, project: Project, form: dict | None = None) -> dict[str, Any]:
    form = form or {}
    values = form.get("values")
    tiers = [
        {
            "name": tier,
            "value": values.get(f"overlap_{tier}", "") if values else (project.overlap or {}).get(tier, 0),
        }
        for tier in _tiers(project)
    ]
    show_agreement = request.GET.get("agreement") == "1"
    agreement = agreement_report(project) if show_agreement else None
    judges = judge_report(project) if request.GET.get("judges") == "1" else None
    counts = _label_counts(project)
    return {
        "project": project,
        "form": {
            "human_budget": values.get("human_budget", "") if values else project.human_budget,
            "human_budget_fraction": (
                values.get("human_budget_fraction", "") if values else project.human_budget_fraction
            ),
            "tiers": tiers,
            "errors": form.get("errors", {}),
        },
        "budget_count": project.budget_count(counts["instances"]),
        "counts": counts,
        "progress": project_progress(project),
        "runs": _routing_runs(project, counts["instances"]),
        "judges": judges,
        "agreement": agreement,
        "human_stats": [
            (HUMAN_STAT_LABELS.get(key, key), value)
            for key, value in ((agreement or {}).get("human") or {}).items()
        ],
        "versions": DatasetVersion.objects.filter(project=project).order_by("-created_at", "-id"),
        "formats": FORMATS,
        "lm_judges": sorted({row["judge"] for row in counts["lm_by_judge"]}),
        "jobs": _jobs(project),
        "curve": _curve_state(project),
    }


@login_required
@strict_csp
@require_http_methods(["GET", "POST"])
def project_dashboard(request: HttpRequest, project: str) -> HttpResponse:
    """GET: the dashboard. POST: change the human budget and the overlap (then back to the dashboard)."""
    project_obj = managed_project(request, project)
    form = None
    if request.method == "POST":
        saved, form = _update_settings(request, project_obj)
        if saved:
            return redirect(reverse("project-dashboard", args=[project_obj.name]))
    response = render(request, "frontend/dashboard.html", _context(request, project_obj, form))
    if form:
        response.status_code = 400
    return response


@login_required
@require_POST
def start_export(request: HttpRequest, project: str, version: str) -> HttpResponse:
    """Start an export of one dataset version, as the datasets API does (a job, a task on commit)."""
    project_obj = managed_project(request, project)
    found = get_object_or_404(DatasetVersion, project=project_obj, name=version)
    chosen = request.POST.get("format", "all")
    given = ExportRequestSerializer(data={} if chosen == "all" else {"formats": [chosen]})
    if not given.is_valid():
        messages.error(request, f"Export format: {' '.join(error_texts(given.errors))}")
    else:
        job = Job.objects.create(
            kind=EXPORT_JOB,
            project=project_obj,
            created_by=request.user,
            params={"version": found.pk, "version_name": found.name, **given.validated_data},
        )
        job.enqueue(export_dataset_task)
        messages.success(request, f"Started export job #{job.pk} of {found.name}; it is listed under Jobs.")
    return redirect(reverse("project-dashboard", args=[project_obj.name]) + "#jobs")


@login_required
@require_POST
def build_version(request: HttpRequest, project: str) -> HttpResponse:
    """Assemble a dataset version as the datasets API does (a job, a task on commit). "routing" takes the
    project's latest routing run."""
    project_obj = managed_project(request, project)
    data = {key: request.POST.get(key) or None for key in ("name", "mode", "judge")}
    if data["mode"] == "routing":
        latest = RoutingRun.objects.filter(project=project_obj).order_by("-created_at", "-id").first()
        data["routing_run"] = latest.pk if latest else None
    given = DatasetVersionCreateSerializer(data={k: v for k, v in data.items() if v is not None})
    if not given.is_valid():
        messages.error(
            request, " ".join(f"{field}: {' '.join(error_texts(e))}" for field, e in given.errors.items())
        )
    elif data["mode"] == "routing" and data["routing_run"] is None:
        messages.error(
            request, "mode: the project has no routing run yet; route it first or choose another mode."
        )
    elif DatasetVersion.objects.filter(project=project_obj, name=given.validated_data["name"]).exists():
        messages.error(request, f"name: a version {given.validated_data['name']!r} already exists.")
    else:
        job = Job.objects.create(
            kind=BUILD_JOB, project=project_obj, created_by=request.user, params=dict(given.validated_data)
        )
        job.enqueue(build_dataset_task)
        messages.success(
            request, f"Started building {job.params['name']} (job #{job.pk}); it is listed under Jobs."
        )
    return redirect(reverse("project-dashboard", args=[project_obj.name]) + "#datasets")
