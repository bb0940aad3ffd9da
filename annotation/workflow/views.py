"""The annotator's pages: workflow home, qualification test, task page; and the researcher's progress page.

Every page here carries a strict Content-Security-Policy: scripts only from our static files (no inline
script, no eval), no frames, no plugins, no foreign images, forms only to us. Model output is sanitised
server-side as well (``render.py``); the policy is what still holds if that ever fails.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from annotation import permissions
from annotation.core.schemes import SchemeError, validate_scheme_config
from annotation.models import Project
from annotation.workflow import assignment as tasks
from annotation.workflow.access import NotAllowed, annotating, annotator_project, check_can_annotate
from annotation.workflow.api import attempt_payload
from annotation.workflow.edits import frozen_reason, recent_work
from annotation.workflow.guidelines import guidelines_for
from annotation.workflow.models import Assignment, QualificationAttempt, SkipReason
from annotation.workflow.payload import task_payload
from annotation.workflow.qualification import (
    QualificationError,
    options_for,
    start_attempt,
    status_of,
    submit_attempt,
)
from annotation.workflow.render import render_markdown
from annotation.workflow.settings_store import settings_for

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; frame-src 'none'; "
    "object-src 'none'"
)


def strict_csp(view):
    """The CSP above, and never cached: counts and leases must be fresh after Back or a reload."""

    @wraps(view)
    @never_cache
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = CSP
        response["Referrer-Policy"] = "same-origin"
        return response

    return wrapped


# What the ends and middle of HelpSteer2's 0-4 ratings mean, shown on the form beside the digits.
RATING_ANCHORS = {
    "helpfulness": ["not helpful", "slightly", "partly", "mostly", "perfectly helpful"],
    "correctness": ["all wrong", "mostly wrong", "partly right", "mostly right", "all correct"],
    "coherence": ["incoherent", "hard to follow", "some lapses", "mostly clear", "perfectly clear"],
    "complexity": ["anyone could write", "basic", "some education", "expertise", "specialist"],
    "verbosity": ["terse", "short", "balanced", "long", "very long"],
}


# The MultiPref scale in a few words, for the five-column scale on narrow screens (the full label is read out).
SHORT_SCALE = {
    "A-clearly": "Resp. 1 clearly",
    "A-slightly": "Resp. 1 slightly",
    "tie": "Tie",
    "B-slightly": "Resp. 2 slightly",
    "B-clearly": "Resp. 2 clearly",
}


def _project(request: HttpRequest, name: str) -> Project:
    return get_object_or_404(permissions.visible_projects(request.user), name=name)


def _guidelines(project: Project) -> str:
    return render_markdown(guidelines_for(project.scheme.get("kind", "multipref")), keep_line_breaks=False)


def annotator_counts(user, project: Project) -> dict:
    """done / skipped / available, the task held now, and the total this annotator can reach."""
    counts = tasks.annotator_progress(user, project)
    counts["held"] = Assignment.objects.filter(
        user=user, instance__project=project, status=Assignment.Status.ACTIVE, expires_at__gt=timezone.now()
    ).count()
    counts["remaining"] = counts["available"] + counts["held"]
    counts["total"] = counts["done"] + counts["remaining"]
    counts["percent"] = round(100 * counts["done"] / counts["total"]) if counts["total"] else 100
    return counts


@login_required
@strict_csp
def workflow_home(request: HttpRequest) -> HttpResponse:
    """Per project: qualification status, tasks done, and the way to the next task."""
    rows = []
    for project in permissions.visible_projects(request.user):
        annotator = permissions.is_annotator_on(request.user, project)
        manager = permissions.can_manage_project(request.user, project)
        if not (annotator or manager):
            continue
        row = {"project": project, "annotator": annotator, "manager": manager}
        if annotator:
            row["qualification"] = status_of(request.user, project)
            row["progress"] = annotator_counts(request.user, project)
        rows.append(row)
    return render(request, "workflow/home.html", {"rows": rows})


@login_required
@strict_csp
@require_http_methods(["GET", "POST"])
def qualification(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = _project(request, project)
    if not permissions.is_annotator_on(request.user, project_obj):
        raise PermissionDenied("Only the project's annotators take its qualification test.")
    context = {
        "project": project_obj,
        "guidelines_html": _guidelines(project_obj),
        "pass_mark": settings_for(project_obj).pass_mark,
    }
    if request.method == "POST":
        attempt = get_object_or_404(
            QualificationAttempt,
            pk=request.POST.get("attempt"),
            project=project_obj,
            user=request.user,
            finished_at=None,
        )
        answers = {
            key[len("item-") :]: value for key, value in request.POST.items() if key.startswith("item-")
        }
        try:
            context["result"] = submit_attempt(attempt, answers)
        except SchemeError as error:
            context["error"] = str(error)
            context["attempt"] = attempt_payload(attempt)
            context["given"] = answers
    status = status_of(request.user, project_obj)
    context["status"] = status
    if "result" not in context and "attempt" not in context and not status.passed:
        try:
            if status.open_attempt is not None or status.can_start:
                context["attempt"] = attempt_payload(start_attempt(request.user, project_obj))
        except QualificationError as error:
            context["error"] = str(error)
    if "attempt" in context:
        # Guidelines come first: open over a fresh attempt, closed once answers were tried.
        context["guidelines_open"] = "always" if request.method == "GET" else ""
        context["options"] = [
            {"value": v, "label": label, "key": n} for n, (v, label) in enumerate(options_for(project_obj), 1)
        ]
    return render(request, "workflow/qualification.html", context)


def _rating_rows(scheme: dict) -> list[dict]:
    """Per attribute: its values with their anchor words (when the scale is the usual 0-4)."""
    low, high = scheme["rating_range"]
    rows = []
    for attribute in scheme["attributes"]:
        anchors = RATING_ANCHORS.get(attribute, [])
        words = anchors if len(anchors) == high - low + 1 else [""] * (high - low + 1)
        values = [{"value": v, "anchor": words[v - low]} for v in range(low, high + 1)]
        rows.append({"name": attribute, "values": values, "ends": [values[0], values[-1]]})
    return rows


def _form_context(project: Project) -> dict:
    scheme = validate_scheme_config(project.scheme)
    if scheme["kind"] == "helpsteer2":
        return {
            "kind": "helpsteer2",
            "attributes": scheme["attributes"],
            "rating_rows": _rating_rows(scheme),
            "rating_values": list(range(scheme["rating_range"][0], scheme["rating_range"][1] + 1)),
            "preference_options": [
                {"value": v, "label": label, "key": n} for n, (v, label) in enumerate(options_for(project), 1)
            ][: 6 + int(scheme["allow_neither_valid"])],
            "justification_required": scheme["justification_required"],
        }
    return {
        "kind": "multipref",
        "scale_options": [
            {"value": v, "label": label, "key": n, "short": SHORT_SCALE.get(v, label)}
            for n, (v, label) in enumerate(options_for(project), 1)
        ],
        "aspects": [
            {
                "name": a,
                "reasons": [{"value": r, "key": n} for n, r in enumerate(scheme["reasons"].get(a, []), 1)],
            }
            for a in scheme["aspects"]
        ],
        "justification_required": scheme["justification_required"],
    }


def _not_annotating(request: HttpRequest, project: Project, error: NotAllowed) -> HttpResponse:
    """A page saying what to do instead (researchers follow "Annotate" links too), not a bare 403."""
    context = {
        "project": project,
        "message": str(error),
        "code": error.code,
        "manager": permissions.can_manage_project(request.user, project),
    }
    return render(request, "workflow/not_annotating.html", context, status=403)


def _page_context(request: HttpRequest, project: Project) -> dict:
    """What every task-like page shows: guidelines, fresh counts, recent work, the speed threshold."""
    return {
        "project": project,
        "guidelines_html": _guidelines(project),
        "progress": annotator_counts(request.user, project),
        "recent": recent_work(request.user, project, limit=8),
        "min_seconds": settings_for(project).min_seconds,
        "skip_reasons": [
            {"value": v, "label": label, "key": n} for n, (v, label) in enumerate(SkipReason.choices, 1)
        ],
    }


@login_required
@strict_csp
def task_page(request: HttpRequest, project: str) -> HttpResponse:
    """The next task (or the one the annotator holds). Refused until the qualification test is passed."""
    project_obj = annotator_project(request.user, project) or _project(request, project)
    try:
        ctx = annotating(request.user, project_obj)
        choice = tasks.next_task(request.user, ctx.project, context=ctx)
    except NotAllowed as error:
        if error.code == "not-qualified":
            return redirect(reverse("workflow-qualification", args=[project_obj.name]))
        return _not_annotating(request, project_obj, error)
    context = _page_context(request, project_obj)
    if choice.assignment is not None:
        context["task"] = task_payload(choice.assignment, choice.annotator_why)
        context["form"] = _form_context(project_obj)
    return render(request, "workflow/task.html", context)


@login_required
@strict_csp
def edit_page(request: HttpRequest, project: str, task: int) -> HttpResponse:
    """One of the annotator's submitted tasks, its answer filled in, to change until a dataset freezes it."""
    project_obj = _project(request, project)
    try:
        check_can_annotate(request.user, project_obj)
    except NotAllowed as error:
        return _not_annotating(request, project_obj, error)
    assignment = get_object_or_404(
        Assignment.objects.select_related("instance__project", "label"),
        pk=task,
        user=request.user,
        instance__project=project_obj,
        status=Assignment.Status.SUBMITTED,
    )
    context = _page_context(request, project_obj)
    context.update(
        {
            "task": task_payload(assignment, []),
            "form": _form_context(project_obj),
            "editing": True,
            "given_answer": assignment.label.answers if assignment.label else {},
            "frozen": frozen_reason(assignment.label) if assignment.label else "its label is gone",
            "edit_count": assignment.label.edits.count() if assignment.label else 0,
        }
    )
    return render(request, "workflow/task.html", context)


def _latest_skips(project: Project, limit: int = 500) -> list[dict]:
    """The project's latest skipped tasks, newest first, with the reason given."""
    reasons = dict(SkipReason.choices)
    skips = (
        Assignment.objects.filter(instance__project=project, status=Assignment.Status.SKIPPED)
        .select_related("instance", "user")
        .order_by("-finished_at")[:limit]
    )
    return [
        {
            "instance": a.instance.external_id,
            "user": a.user.username,
            "at": a.finished_at,
            "reason": reasons.get(a.skip_reason, a.skip_reason or "no reason given"),
        }
        for a in skips
    ]


@login_required
@strict_csp
def progress_page(request: HttpRequest, project: str) -> HttpResponse:
    """Researcher view: totals from the maintained counters, then a page of instances (``?offset=``)."""
    project_obj = _project(request, project)
    if not permissions.can_manage_project(request.user, project_obj):
        raise Http404("No such project.")
    try:
        offset = max(0, min(int(request.GET.get("offset", 0)), 10**9))
    except ValueError:
        offset = 0
    page = tasks.progress_page(project_obj, offset, tasks.PAGE_SIZE)
    return render(
        request,
        "workflow/progress.html",
        {
            "project": project_obj,
            "page": page,
            "rows": page.rows,
            "quota": page.quota,
            "done": page.done,
            "needed": page.needed,
            "skipped": _latest_skips(project_obj),
            "source": page.source.description,
            "annotators": tasks.annotator_quality(project_obj),
        },
    )
