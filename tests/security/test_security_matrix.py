"""The role x verb x endpoint matrix (issue 10): every URL of the URL conf and of the OpenAPI schema, every
verb its view serves, for eight principals on both token and session auth, checked against rules.

Nothing here lists endpoints: a new URL is enumerated and held to the same rules without editing this file.
The rules (see ``check_*`` below) are:

1. no answer is a 5xx;
2. anonymous callers get 401/403 from the API and a redirect to the sign-in page from pages (a few public
   endpoints excepted: sign-in, token, health, the API schema and docs);
3. people outside the project (an annotator of another project, a researcher who is not a member, a removed
   member) get, on every URL naming the project, exactly what they get for a project that does not exist,
   and never a 2xx; no answer of theirs contains anything of the project;
4. an annotator's answers never contain LM labels, other annotators' labels, gold, routing or budget fields,
   and an annotator's successful write changes no row that is not theirs;
5. the project's researchers and admins may read every collection (no 401/403/404);
6. on the API, token and session auth give the same status.

One project is built once per module (rolled back at the end); each request runs in a savepoint that is
rolled back, so writes by one principal never change what the next one sees.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

PROJECT = "secproj"
UNKNOWN = "no-such-project-zq"
# Strings stored in the project that some principals must never see.
OTHER_LABEL = "zq-other-annotators-justification"
OWN_LABEL = "zq-own-justification"
JUDGE = "zq-secret-judge"
GOLD = "zq-gold-note"
ROUTING = "zq-routing-mark"
PROMPT = "zq-project-prompt"
BUDGET = 4321
PUBLIC = {"/api/auth/token/", "/api/schema/", "/api/docs/", "/login/", "/health/", "/logout/"}
WRITE_VERBS = ("post", "put", "patch", "delete")
FORBIDDEN_KEYS = re.compile(r"gold|routing|route|budget|judge|lm_label", re.IGNORECASE)
FORBIDDEN_TEXT = re.compile(r"\bgold\b|routing run|routed|budget", re.IGNORECASE)
PRINCIPALS = (
    "annotator",
    "other_annotator",
    "outside_annotator",
    "outside_researcher",
    "member_researcher",
    "removed_researcher",
    "admin",
)
OUTSIDERS = {"outside_annotator", "outside_researcher", "removed_researcher"}
ANNOTATORS = {"annotator", "other_annotator"}
MANAGERS = {"member_researcher", "admin"}

# Each test also runs in its own savepoint (pytest-django), inside the module's transaction.
pytestmark = pytest.mark.django_db


# --- the world --------------------------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, User]
    values: dict[str, str]  # URL parameter name -> a value that exists in the project
    project_id: int


ROLES = {
    "annotator": "annotator",
    "other_annotator": "annotator",
    "outside_annotator": "annotator",
    "outside_researcher": "researcher",
    "member_researcher": "researcher",
    "removed_researcher": "researcher",
    "admin": "admin",
}


def _user(username: str, role: str) -> User:
    """A user of ``role`` without a password (these sign in by token or a forced session: no hashing cost)."""
    from annotation.models import UserProfile

    user = User(username=username, is_superuser=role == "admin", is_staff=role == "admin")
    user.set_unusable_password()
    user.save()
    UserProfile.objects.filter(user=user).update(role=role)
    return user


def _build_world() -> World:
    from annotation.core.schemes import default_scheme_config
    from annotation.judging.models import LMEndpoint
    from annotation.models import HumanLabel, Instance, Job, LMLabel, Project, ProjectMembership
    from annotation.workflow.models import GoldAnswer, QualificationAttempt, QualificationItem
    from annotation.workflow.queue import add_to_queue
    from annotation.workflow.settings_store import settings_for
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun

    users = {name: _user(f"sec-{name}", role) for name, role in ROLES.items()}
    project = Project.objects.create(
        name=PROJECT,
        scheme=default_scheme_config("multipref"),
        overlap={"normal": 3},
        human_budget=BUDGET,
        created_by=users["removed_researcher"],
    )
    Project.objects.create(name="sec-elsewhere", created_by=users["outside_researcher"])
    for role, name in (
        ("annotator", "annotator"),
        ("annotator", "other_annotator"),
        ("researcher", "member_researcher"),
    ):
        ProjectMembership.objects.create(project=project, user=users[name], role=role)
    ProjectMembership.objects.create(
        project=Project.objects.get(name="sec-elsewhere"), user=users["outside_annotator"], role="annotator"
    )
    instances = [
        Instance.objects.create(
            project=project, external_id=f"s{k}", prompt=f"{PROMPT} {k}", response_a="a", response_b="b"
        )
        for k in range(4)
    ]
    add_to_queue(project, instances)
    conf = settings_for(project)
    conf.min_seconds = 0
    conf.save()
    for name in ("annotator", "other_annotator"):
        QualificationAttempt.objects.create(
            project=project,
            user=users[name],
            guideline_version=conf.guideline_version,
            item_ids=[],
            correct=1,
            score=1.0,
            passed=True,
        )
    own = HumanLabel.objects.create(
        instance=instances[0],
        annotator=users["annotator"],
        annotator_ref="sec-annotator",
        preference=-1,
        answers={"justification": OWN_LABEL},
    )
    HumanLabel.objects.create(
        instance=instances[1],
        annotator=users["other_annotator"],
        annotator_ref="sec-other",
        preference=1,
        answers={"justification": OTHER_LABEL},
    )
    LMLabel.objects.create(instance=instances[0], judge=JUDGE, preference=2)
    gold = GoldAnswer.objects.create(instance=instances[3], preference=-2, note=GOLD)
    item = QualificationItem.objects.create(
        project=project, prompt="q", response_a="a", response_b="b", expected="A", explanation=GOLD
    )
    ppm = PPMArtifact.objects.create(name="sec-ppm", kind="linear", path="unused", project=project)
    run = RoutingRun.objects.create(
        project=project,
        budget=2,
        strategy="simulated",
        ppm=ppm,
        predicted_performance=0.5,
        params={"mark": ROUTING},
    )
    RoutingDecision.objects.create(run=run, instance=instances[2], route="human", gain=0.1)
    job = Job.objects.create(kind="import", project=project, created_by=users["removed_researcher"])
    LMEndpoint.objects.create(name="sec-endpoint", backend="local")
    membership = ProjectMembership.objects.get(project=project, user=users["member_researcher"])
    for user in users.values():
        Token.objects.create(user=user)
    values = {
        "project": PROJECT,
        "name": PROJECT,
        "external_id": instances[0].external_id,
        "id": str(own.pk),
        "pk": str(own.pk),
        "job_id": str(job.pk),
        "task": "1",
        "attempt": "1",
        "version": "v1",
        "_members": str(membership.pk),
        "_gold": str(gold.pk),
        "_items": str(item.pk),
        "_runs": str(run.pk),
        "_ppms": str(ppm.pk),
        "_jobs": str(job.pk),
    }
    return World(users=users, values=values, project_id=project.pk)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    with django_db_blocker.unblock():
        with transaction.atomic():
            built = _build_world()
            # The removed researcher created the project and then lost their membership.
            yield built
            transaction.set_rollback(True)


# --- the endpoints ----------------------------------------------------------------------------------------


def _url_conf_routes() -> Iterator[tuple[str, object]]:
    """(route with {params}, callback) for every URL pattern except Django admin and format suffixes."""

    def walk(resolver: URLResolver, prefix: str) -> Iterator[tuple[str, object]]:
        for pattern in resolver.url_patterns:
            text = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
            if isinstance(pattern, URLResolver):
                if not text.startswith("admin/"):
                    yield from walk(pattern, text)
            elif isinstance(pattern, URLPattern) and "format" not in text:
                yield text, pattern.callback

    for route, callback in walk(get_resolver(), ""):
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("{pk}", "{id}")  # as the schema names it
        yield "/" + route, callback


def _verbs(callback: object) -> set[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return set(actions)
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view is None:
        return {"get", "post"}  # a function view: try both
    return {verb for verb in ("get", "post", "put", "patch", "delete") if hasattr(view, verb)}


@functools.cache
def _schema_routes() -> dict[str, set[str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        path: {verb for verb in item if verb in ("get", "post", "put", "patch", "delete")}
        for path, item in schema["paths"].items()
    }


@functools.cache
def endpoints() -> dict[str, set[str]]:
    """{route: verbs} from the URL conf and the OpenAPI schema together."""
    found: dict[str, set[str]] = {}
    for route, callback in _url_conf_routes():
        found.setdefault(route, set()).update(_verbs(callback))
    for route, verbs in _schema_routes().items():
        found.setdefault(route, set()).update(verbs)
    return found


def concrete(route: str, values: dict[str, str], project: str = PROJECT) -> str:
    """The route with each {param} filled: a row of that collection when there is one, else "1"."""
    collection = re.search(r"/([\w-]+)/\{(?:id|pk)\}", route)
    filled = route
    if collection and f"_{collection.group(1)}" in values:
        filled = re.sub(r"\{(?:id|pk)\}", values[f"_{collection.group(1)}"], filled, count=1)
    filled = filled.replace("{project}", project).replace("{name}", project)
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), filled)


def test_the_schema_and_the_url_conf_agree():
    url_conf = {route for route, _ in _url_conf_routes()}
    missing = sorted(route for route in _schema_routes() if route not in url_conf)
    assert not missing, f"paths in the OpenAPI schema that no URL pattern serves: {missing}"


# --- requests -------------------------------------------------------------------------------------------


def client_for(world: World, principal: str, mode: str) -> APIClient:
    client = APIClient()
    if principal == "anonymous":
        return client
    user = world.users[principal]
    if mode == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    else:
        client.force_login(user)
    return client


def send(client: APIClient, verb: str, path: str):
    """One request in a savepoint that is rolled back (its writes never reach the next request)."""
    with transaction.atomic():
        response = getattr(client, verb)(path, {}, format="json") if verb != "get" else client.get(path)
        transaction.set_rollback(True)
    return response


def body_of(response) -> str:
    content = getattr(response, "content", b"")
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else ""


def json_keys(text: str) -> set[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return set()
    keys: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            keys.update(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return keys


# --- rules ----------------------------------------------------------------------------------------------


def check_anonymous(path: str, verb: str, status: int, response) -> str | None:
    if path in PUBLIC:
        return None
    if path.startswith("/api/"):
        return None if status in (401, 403) else f"anonymous got {status}, expected 401/403"
    if status == 302 and "/login/" in response.get("Location", ""):
        return None
    return f"anonymous got {status}, expected a redirect to the sign-in page"


def check_outsider(path: str, status: int, text: str, twin_status: int | None) -> str | None:
    if any(mark in text for mark in (PROMPT, OTHER_LABEL, OWN_LABEL, JUDGE, GOLD, ROUTING)):
        return "an outsider's answer shows the project's data"
    if twin_status is None:
        return None
    if 200 <= status < 300:
        return f"an outsider got {status} on a URL naming the project"
    if status != twin_status:
        return f"outsider: {status} here but {twin_status} for a project that does not exist"
    return None


def check_annotator(principal: str, status: int, text: str) -> str | None:
    others = OTHER_LABEL if principal == "annotator" else OWN_LABEL
    for mark, what in (
        (others, "another annotator's label"),
        (JUDGE, "an LM label"),
        (GOLD, "gold"),
        (ROUTING, "routing"),
    ):
        if mark in text:
            return f"an annotator's answer shows {what}"
    if status < 300 and text.lstrip().startswith(("{", "[")):
        keys = sorted(k for k in json_keys(text) if FORBIDDEN_KEYS.search(k))
        if keys:
            return f"an annotator's answer has fields {keys}"
        words = FORBIDDEN_TEXT.findall(text)
        if words:
            return f"an annotator's answer mentions {sorted(set(words))}"
    return None


def _rows_not_of(user: User) -> dict[str, int]:
    """Per model of the project's apps: rows that do not point at ``user`` (an annotator may change only theirs)."""
    counts = {}
    for model in apps.get_models():
        if model._meta.app_label not in {
            "annotation",
            "workflow",
            "judging",
            "datasets",
            "routing",
            "training",
        }:
            continue
        user_fields = [f.name for f in model._meta.fields if f.is_relation and f.related_model is User]
        mine = Q()
        for name in user_fields:
            mine |= Q(**{name: user})
        counts[model._meta.label] = (
            model.objects.exclude(mine).count() if user_fields else model.objects.count()
        )
    return counts


# --- the matrix -----------------------------------------------------------------------------------------


def exchange(client: APIClient, verb: str, path: str, before: dict[str, int] | None, user: User | None):
    """(response, changed) for one request in a rolled-back savepoint; ``changed`` lists the models whose rows
    not belonging to an annotator changed under that annotator's successful write (else None). ``before`` is
    the count of such rows, the same before every request since each one is rolled back."""
    changed = None
    with transaction.atomic():
        response = getattr(client, verb)(path, {}, format="json") if verb != "get" else client.get(path)
        if before is not None and verb in WRITE_VERBS and response.status_code < 300:
            after = _rows_not_of(user)
            changed = sorted(name for name in after if after[name] != before[name])
        transaction.set_rollback(True)
    return response, changed


def problem_with(
    client: APIClient, world: World, principal: str, route: str, verb: str, response, changed
) -> str | None:
    """What is wrong with this answer by the rules of the module docstring, or None."""
    path, status, text = concrete(route, world.values), response.status_code, body_of(response)
    if status >= 500:
        return f"{status} (server error)"
    if principal == "anonymous":
        return check_anonymous(path, verb, status, response)
    if principal in OUTSIDERS:
        twin = None
        if "{project}" in route or "{name}" in route:
            twin = send(client, verb, concrete(route, world.values, UNKNOWN)).status_code
        return check_outsider(path, status, text, twin)
    if principal in ANNOTATORS:
        if changed:
            return f"an annotator's write changed rows that are not theirs: {changed}"
        return check_annotator(principal, status, text)
    collection = verb == "get" and route.startswith("/api/") and "{" not in route.replace("{project}", "")
    if collection and status in (401, 403, 404):
        return f"the project's {principal} got {status} reading it"
    return None


def run_matrix(world: World, principal: str, mode: str) -> tuple[dict[str, int], list[str]]:
    """({"VERB path": status}, problems) for every endpoint and verb, as ``principal`` on ``mode`` auth."""
    client = client_for(world, principal, mode)
    user = world.users.get(principal)
    before = _rows_not_of(user) if principal in ANNOTATORS else None
    problems: list[str] = []
    statuses: dict[str, int] = {}
    for route, verbs in sorted(endpoints().items()):
        path = concrete(route, world.values)
        if principal != "anonymous" and route in PUBLIC - {"/api/auth/token/"}:
            continue  # the same for everyone: the anonymous run covers them (the schema takes seconds)
        for verb in sorted(verbs):
            response, changed = exchange(client, verb, path, before, user)
            statuses[f"{verb.upper()} {path}"] = response.status_code
            problem = problem_with(client, world, principal, route, verb, response, changed)
            if problem:
                problems.append(f"{verb.upper()} {path} as {principal} ({mode}): {problem}")
            if path == "/logout/":
                client = client_for(world, principal, mode)  # signed out: sign in again
    return statuses, problems


def test_anonymous(world):
    _, problems = run_matrix(world, "anonymous", "none")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_principal(world, principal):
    """Both auth modes; on the API they must also agree with each other on every status."""
    by_token, problems = run_matrix(world, principal, "token")
    by_session, more = run_matrix(world, principal, "session")
    problems += more
    for request, status in sorted(by_token.items()):
        if request.split()[1].startswith("/api/") and by_session.get(request) != status:
            problems.append(f"{request} as {principal}: token {status}, session {by_session.get(request)}")
    assert not problems, "\n".join(problems)


BAD_BODIES = (
    [],
    "text",
    7,
    {"name": ["x"], "answer": ["A"], "endpoint": {"x": 1}, "instance_ids": [10**30], "limit": "9" * 40},
    {"answer": {"overall": [], "aspects": [[]]}, "lease_token": [], "time_ms": -1, "format": []},
)


@pytest.mark.parametrize("principal", ["admin", "annotator"])
def test_no_bad_body_is_a_server_error(world, principal):
    """Every write, with bodies of the wrong shape, as someone whom the permissions let through."""
    client = client_for(world, principal, "token")
    errors = []
    for route, verbs in sorted(endpoints().items()):
        path = concrete(route, world.values)
        for verb in sorted(set(verbs) & set(WRITE_VERBS)):
            for body in BAD_BODIES:
                with transaction.atomic():
                    status = getattr(client, verb)(path, body, format="json").status_code
                    transaction.set_rollback(True)
                if status >= 500:
                    errors.append(
                        f"{verb.upper()} {path} as {principal} with {json.dumps(body)[:80]}: {status}"
                    )
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("odd", ["9" * 30, "-1", "0", "1e3", "%C2%B2"])
def test_odd_ids_in_urls_are_not_server_errors(world, odd):
    """Every route with an id in its path, the id replaced by a 30-digit, negative, zero or non-ASCII one."""
    client = client_for(world, "admin", "token")
    errors = []
    for route, verbs in sorted(endpoints().items()):
        if not re.search(r"\{(?!project\}|name\})\w+\}", route):
            continue
        path = re.sub(r"\{(?!project\}|name\})\w+\}", odd, route).replace("{project}", PROJECT)
        for verb in sorted(verbs):
            status = send(client, verb, path).status_code
            if status >= 500:
                errors.append(f"{verb.upper()} {path}: {status}")
    assert not errors, "\n".join(errors)
