"""The researcher's routing loop in the browser: tags, the PPM loop, the budget curve, routing runs.

One page per project (``/projects/<name>/routing/``) walks through the steps in order; each step starts the
same job or service the command line uses (the tags job and task, ``routing.training_runs.launch
.start_ppm_loop``, ``routing.app.services.route_project``), and jobs report progress that the page polls
from ``/api/jobs/<id>/`` (``static/frontend/jobs.js``). A routing run has its own page: the instances sent to
people with their gain and the tags that drove them, and the per-tag gain chart. Only the project's
researchers and admins may open any of it (``frontend.access.managed_project``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.models import Job, LMLabel, Project
from annotation.workflow.views import strict_csp
from frontend import curve as curves
from frontend.access import managed_project
from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun, TagValue
from routing.app.services import RoutingError, route_project
from routing.app.tasks import TAGS_JOB, compute_tags_task
from routing.ppm import PAPER_TABLE2
from routing.strategies import STRATEGIES
from routing.training_runs import launch
from routing.training_runs.models import PPMLoopRun, RoutingExperiment, Status
from routing.training_runs.records import request_cancel

K_RANGE = (8, 2000)
DEFAULT_K = 200
MAX_SEED = 2**31 - 1
RUN_ROWS = 500  # decisions listed on a run's page (the rest through the API)
CURVE_CACHE_S = 24 * 3600
SORTS = {"gain": "-gain", "-gain": "gain", "instance": "instance__external_id"}


class BadInput(ValueError):
    """A form value out of range; the message names the field."""


def parse_budget(raw: str, n: int) -> int:
    """ "25%", "0.25" (a share) or "250" (a count) as a count of instances in 0..n."""
    text = (raw or "").strip().replace(" ", "")
    if not text or len(text) > 12:
        raise BadInput("Budget: type a share (25% or 0.25) or a count of instances (250).")
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100
        elif "." in text:
            share = float(text)
        else:
            count = int(text)
            if not 0 <= count <= n:
                raise BadInput(f"Budget: {count} is not a count between 0 and {n} (the project's instances).")
            return count
    except ValueError as error:
        if isinstance(error, BadInput):
            raise
        raise BadInput(f"Budget: {raw!r} is neither a share (25% or 0.25) nor a count (250).") from error
    if not (np.isfinite(share) and 0 <= share <= 1):
        raise BadInput(f"Budget: {raw!r} is not a share between 0% and 100%.")
    return int(round(share * n))


def _int_field(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise BadInput(f"{name}: {raw!r} is not a whole number.") from error
    if not low <= value <= high:
        raise BadInput(f"{name}: {value} is not between {low} and {high}.")
    return value


def _judges(project: Project) -> list[str]:
    return sorted(set(LMLabel.objects.filter(instance__project=project).values_list("judge", flat=True)))


def _artifacts(project: Project) -> list[PPMArtifact]:
    return list(PPMArtifact.objects.filter(project=project).order_by("-id"))


def _chosen_artifact(project: Project, name: str | None) -> PPMArtifact | None:
    """The PPM named in the request (one of this project's), else the newest one."""
    artifacts = PPMArtifact.objects.filter(project=project).order_by("-id")
    if name:
        return artifacts.filter(name=name[:100]).first()
    return artifacts.first()


def _loop_rows(project: Project) -> list[dict[str, Any]]:
    """The project's PPM loops with their held-out metrics per target and PPM kind, beside the paper's."""
    rows = []
    for loop in PPMLoopRun.objects.filter(project=project).order_by("-id")[:10]:
        metrics = []
        for target, per_kind in ((loop.metrics or {}).get("ppm") or {}).items():
            for m in per_kind:
                metrics.append({"target": target, **m})
        rows.append({"loop": loop, "metrics": metrics, "job": loop.job})
    return rows


def _curve_key(project: Project, artifact: PPMArtifact, strategy: str, n: int) -> str:
    stamp = json.dumps(
        [artifact.pk, artifact.path, artifact.metadata.get("saved_at"), artifact.metrics],
        default=str,
        sort_keys=True,
    )
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    tagged = TagValue.objects.filter(instance__project=project).count()
    return f"budget-curve:{project.pk}:{digest}:{strategy}:{n}:{tagged}"


def project_curve(
    project: Project, artifact: PPMArtifact, strategy: str
) -> tuple[curves.Curve, curves.Loaded]:
    """The budget curve of a project under a PPM (cached: it only changes with the PPM or the tags)."""
    loaded = curves.load(project, artifact)
    key = _curve_key(project, artifact, strategy, loaded.n)
    curve = cache.get(key)
    if curve is None:
        curve = curves.budget_curve(loaded, strategy)
        cache.set(key, curve, CURVE_CACHE_S)
    experiment = RoutingExperiment.objects.filter(project=project, status="succeeded").order_by("-id").first()
    target = (artifact.metadata or {}).get("target", "heldout")
    curve.measured = curves.measured_points(experiment.summary, target) if experiment else []
    return curve, loaded


def _picked(project: Project, loaded: curves.Loaded, curve: curves.Curve, raw: str) -> dict[str, Any]:
    """The budget the researcher picked: predicted routed and random scores, the gain, and its cost."""
    count = parse_budget(raw, loaded.n)
    routed = curves.routed_score(loaded, count, curve.strategy)
    random = curves.random_score(loaded, count)
    per_instance = sum(int(v) for v in (project.overlap or {}).values())
    return {
        "raw": raw,
        "count": count,
        "share": count / loaded.n if loaded.n else 0.0,
        "routed": routed,
        "random": random,
        "gain": routed - random,
        "annotations": count * per_instance,
        "per_instance": per_instance,
    }


def _curve_rows(project: Project, curve: curves.Curve) -> list[dict[str, Any]]:
    per_instance = sum(int(v) for v in (project.overlap or {}).values())
    return [
        {
            "share": s,
            "count": int(round(s * curve.n)),
            "annotations": int(round(s * curve.n)) * per_instance,
            "routed": r,
            "random": q,
            "gain": r - q,
        }
        for s, r, q in zip(curve.shares, curve.routed, curve.random, strict=True)
    ]


def _curve_context(request: HttpRequest, project: Project) -> dict[str, Any]:
    artifact = _chosen_artifact(project, request.GET.get("ppm"))
    strategy = request.GET.get("strategy", "top_k")
    if strategy not in curves.CURVE_STRATEGIES:
        strategy = "top_k"
    context: dict[str, Any] = {"artifact": artifact, "strategy": strategy, "curve": None}
    if artifact is None:
        return context
    try:
        curve, loaded = project_curve(project, artifact, strategy)
    except (RoutingError, OSError, ValueError) as error:
        context["curve_error"] = f"The budget curve of PPM {artifact.name!r} cannot be drawn: {error}"
        return context
    context.update(curve=curve, curve_rows=_curve_rows(project, curve))
    raw = request.GET.get("budget")
    if raw:
        try:
            context["picked"] = _picked(project, loaded, curve, raw)
        except BadInput as error:
            context["budget_error"] = str(error)
    return context


def _tags_state(project: Project) -> dict[str, Any]:
    total = project.instances.count()
    tagged = TagValue.objects.filter(instance__project=project).values("instance_id").distinct().count()
    job = Job.objects.filter(project=project, kind=TAGS_JOB).order_by("-id").first()
    return {"total": total, "tagged": tagged, "job": job}


@login_required
@strict_csp
@require_GET
def routing_page(request: HttpRequest, project: str) -> HttpResponse:
    """Tags -> PPM loop -> budget curve -> route: the whole loop of one project on one page."""
    project_obj = managed_project(request, project)
    context = {
        "project": project_obj,
        "tags": _tags_state(project_obj),
        "judges": _judges(project_obj),
        "loops": _loop_rows(project_obj),
        "artifacts": _artifacts(project_obj),
        "strategies": STRATEGIES,
        "curve_strategies": curves.CURVE_STRATEGIES,
        "paper": PAPER_TABLE2,
        "default_k": DEFAULT_K,
        "k_range": K_RANGE,
        "runs": RoutingRun.objects.filter(project=project_obj).select_related("ppm").order_by("-id")[:10],
        "experiments": RoutingExperiment.objects.filter(project=project_obj).order_by("-id")[:5],
        "axes_box": curves.AXES_BOX,
        **_curve_context(request, project_obj),
    }
    return render(request, "frontend/routing.html", context)


@login_required
@require_GET
def curve_svg(request: HttpRequest, project: str) -> HttpResponse:
    """The budget curve as an SVG image (same PPM, strategy and picked budget as the page)."""
    project_obj = managed_project(request, project)
    context = _curve_context(request, project_obj)
    if context.get("curve") is None:
        raise Http404("This project has no PPM whose budget curve can be drawn.")
    picked = context.get("picked")
    svg = curves.curve_svg(context["curve"], picked["share"] if picked else None)
    return HttpResponse(svg, content_type="image/svg+xml")


def _back(project: Project, anchor: str) -> HttpResponse:
    return redirect(reverse("project-routing", args=[project.name]) + anchor)


@login_required
@require_POST
def start_tags(request: HttpRequest, project: str) -> HttpResponse:
    """Start the textual-tags job (resumable: only instances without tags are computed)."""
    project_obj = managed_project(request, project)
    running = Job.objects.filter(project=project_obj, kind=TAGS_JOB, status__in=["pending", "running"])
    if running.exists():
        messages.error(request, f"Tags: job #{running.first().pk} is still running; wait for it to finish.")
        return _back(project_obj, "#tags")
    job = Job.objects.create(
        kind=TAGS_JOB, project=project_obj, created_by=request.user, params={"mode": "recommended"}
    )
    job.enqueue(compute_tags_task)
    messages.success(request, f"Started the textual tags (job #{job.pk}).")
    return _back(project_obj, "#tags")


@login_required
@require_POST
def start_loop(request: HttpRequest, project: str) -> HttpResponse:
    """Start the PPM loop on the proxy: K candidate mixes measured, a PPM fitted per target."""
    project_obj = managed_project(request, project)
    judges = _judges(project_obj)
    judge = request.POST.get("judge") or (judges[0] if len(judges) == 1 else "")
    try:
        if judge not in judges:
            raise BadInput(
                f"LM judge: {judge or 'none'!r} has no labels in this project; pick one of {judges}."
            )
        k = _int_field(request.POST.get("k"), "K (candidates)", *K_RANGE, DEFAULT_K)
        seed = _int_field(request.POST.get("seed"), "Seed", 0, MAX_SEED, 0)
    except BadInput as error:
        messages.error(request, str(error))
        return _back(project_obj, "#loop")
    compute = request.POST.get("compute_tags") == "on"
    loop = launch.start_ppm_loop(project_obj, judge, k=k, seed=seed, compute_tags=compute, user=request.user)
    messages.success(request, f"Started PPM loop #{loop.pk} (K={k}, judge {judge}).")
    return _back(project_obj, "#loop")


@login_required
@require_POST
def cancel_loop(request: HttpRequest, project: str, loop_id: int) -> HttpResponse:
    """Cancel a PPM loop: at once when it is still queued, at its next batch of candidates when running."""
    project_obj = managed_project(request, project)
    loop = get_object_or_404(PPMLoopRun, project=project_obj, pk=loop_id)
    if loop.status not in (Status.PENDING, Status.RUNNING):
        messages.error(request, f"PPM loop #{loop.pk} is {loop.status}: there is nothing to cancel.")
    else:
        request_cancel(loop)
        messages.success(request, f"Asked PPM loop #{loop.pk} to stop.")
    return _back(project_obj, "#loop")


@login_required
@require_POST
def create_run(request: HttpRequest, project: str) -> HttpResponse:
    """Route the project under a budget with a strategy and a PPM; the run decides what people annotate."""
    project_obj = managed_project(request, project)
    artifact = _chosen_artifact(project_obj, request.POST.get("ppm"))
    strategy = request.POST.get("strategy", "")
    try:
        if artifact is None:
            raise BadInput("PPM: this project has no PPM yet; run the PPM loop first.")
        if strategy not in STRATEGIES:
            raise BadInput(f"Strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}.")
        count = parse_budget(request.POST.get("budget", ""), project_obj.instances.count())
        run = route_project(project_obj, artifact, count, strategy, seed=0)
    except (BadInput, RoutingError) as error:
        messages.error(request, str(error))
        return _back(project_obj, "#route")
    messages.success(
        request,
        f"Routing run #{run.pk}: {run.budget} instances go to people ({strategy}, PPM {artifact.name}).",
    )
    return redirect(reverse("project-routing-run", args=[project_obj.name, run.pk]))


def _run(request: HttpRequest, project: str, run_id: int) -> tuple[Project, RoutingRun]:
    project_obj = managed_project(request, project)
    return project_obj, get_object_or_404(
        RoutingRun.objects.select_related("ppm"), project=project_obj, pk=run_id
    )


def _run_gains(project: Project, run: RoutingRun) -> tuple[list[dict], curves.Loaded]:
    loaded = curves.load(project, run.ppm)
    key = f"tag-gains:{run.pk}"
    rows = cache.get(key)
    if rows is None:
        rows = curves.tag_gains(loaded)
        cache.set(key, rows, CURVE_CACHE_S)
    return rows, loaded


def _driving_tags(loaded: curves.Loaded, gains: list[dict], top: int = 3) -> dict[int, list[str]]:
    """Per instance id: its tags with the largest positive per-tag gain (what made routing it worthwhile)."""
    rank = {r["tag"]: r["gain_per_instance"] for r in gains if r["n"] and np.isfinite(r["gain"])}
    names = loaded.builder.tag_names
    T = loaded.builder.T
    out = {}
    for row, inst_id in enumerate(loaded.builder.table.instance_ids):
        carried = [names[j] for j in np.nonzero(T[row])[0] if rank.get(names[j], 0) > 0]
        out[int(inst_id)] = sorted(carried, key=lambda t: -rank[t])[:top]
    return out


@login_required
@strict_csp
@require_GET
def run_page(request: HttpRequest, project: str, run_id: int) -> HttpResponse:
    """A routing run: the instances sent to people (gain, driving tags), sortable and filterable by tag."""
    project_obj, run = _run(request, project, run_id)
    sort = request.GET.get("sort", "gain")
    order = SORTS.get(sort, "-gain")
    tag = (request.GET.get("tag") or "")[:200]
    decisions = RoutingDecision.objects.filter(run=run, route=RoutingDecision.Route.HUMAN).select_related(
        "instance"
    )
    error = None
    try:
        gains, loaded = _run_gains(project_obj, run)
        driving = _driving_tags(loaded, gains)
    except (RoutingError, OSError, ValueError) as problem:
        gains, driving, error = [], {}, f"The tag gains of this run cannot be computed: {problem}"
    rows = [
        {"decision": d, "tags": driving.get(d.instance_id, [])}
        for d in decisions.order_by(order, "instance_id")
    ]
    if tag:
        rows = [r for r in rows if tag in r["tags"]]
    context = {
        "project": project_obj,
        "run": run,
        "rows": rows[:RUN_ROWS],
        "shown_all": len(rows) <= RUN_ROWS,
        "human_count": decisions.count(),
        "total": RoutingDecision.objects.filter(run=run).count(),
        "gains": gains,
        "tag": tag,
        "sort": sort if sort in SORTS else "gain",
        "tags_in_rows": sorted({t for r in rows for t in r["tags"]} | ({tag} if tag else set())),
        "gain_error": error,
    }
    return render(request, "frontend/routing_run.html", context)


@login_required
@require_GET
def run_gains_svg(request: HttpRequest, project: str, run_id: int) -> HttpResponse:
    """The per-tag gain chart of a run's PPM on this project (paper Figure 5) as SVG."""
    project_obj, run = _run(request, project, run_id)
    try:
        gains, _ = _run_gains(project_obj, run)
    except (RoutingError, OSError, ValueError) as error:
        raise Http404(f"No tag gains for run #{run.pk}: {error}") from error
    return HttpResponse(curves.gain_chart_svg(gains), content_type="image/svg+xml")
