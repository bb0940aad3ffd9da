"""One test per item of issue 10 done here (items 5, 7, 8 and the deploy check; items 1 and 4 are tested in
tests/judging/test_judging_endpoints.py and tests/foundation/test_api_roles.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Instance, Job, LMLabel

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# --- item 5: brute force, token lifetime, revocation --------------------------------------------------------


@pytest.fixture
def signer(settings):
    """A researcher whose password checks are fast (the production hasher takes ~0.3 s per try)."""
    from tests.conftest import make_user

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return make_user("sec-signer", "researcher")


SIGNER_PASSWORD = "sec-signer-pass-1234"


def _token(client, username: str, password: str):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json")


def test_unknown_users_and_wrong_passwords_get_one_answer_then_a_lockout(api_client, signer):
    unknown = _token(api_client, "nobody-here", "whatever-1234")
    wrong = _token(api_client, signer.username, "wrong-password")
    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()
    for _ in range(settings.AXES_FAILURE_LIMIT - 2):
        assert _token(api_client, signer.username, "wrong-password").status_code == 400
    # The failure that reaches the limit is answered with the lockout.
    assert _token(api_client, signer.username, "wrong-password").status_code == 429
    right = _token(api_client, signer.username, SIGNER_PASSWORD)
    assert right.status_code == 429, "the right password straight after the failures must be refused"
    assert "token" not in right.json() and "Too many failed sign-ins" in right.json()["detail"]


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_sign_in_forms_lock_out(client, settings, url):
    from django.contrib.auth.models import User

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin = User.objects.create_superuser("sec-admin", "sec@example.org", "sec-admin-pass-1234")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": admin.username, "password": "wrong-password"})
    locked = client.post(url, {"username": admin.username, "password": "sec-admin-pass-1234"})
    assert locked.status_code in (403, 429)
    assert "_auth_user_id" not in client.session


def test_the_token_endpoint_is_throttled(api_client):
    rate = int(settings.API_TOKEN_RATE.split("/")[0])
    answers = [api_client.post("/api/auth/token/", {}, format="json").status_code for _ in range(rate + 1)]
    assert answers[:rate] == [400] * rate and answers[rate] == 429


def test_tokens_expire_and_can_be_revoked(api_client, signer):
    issued = _token(api_client, signer.username, SIGNER_PASSWORD).json()
    assert issued["token"] and issued["expires_at"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {issued['token']}")
    assert api_client.get("/api/projects/").status_code == 200
    Token.objects.filter(key=issued["token"]).update(
        created=Token.objects.get(key=issued["token"]).created - timedelta(seconds=settings.API_TOKEN_TTL + 1)
    )
    expired = api_client.get("/api/projects/")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    fresh = _token(APIClient(), signer.username, SIGNER_PASSWORD).json()["token"]
    assert fresh != issued["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {fresh}")
    assert api_client.delete("/api/auth/token/").status_code == 204
    assert api_client.get("/api/projects/").status_code == 401


# --- item 7: bad input answers 400 naming the field ----------------------------------------------------------


def test_deep_json_is_a_400_even_anonymously(api_client, researcher):
    body = deep(50_000)
    anonymous = api_client.post("/api/auth/token/", body, content_type="application/json")
    assert anonymous.status_code == 400 and "nested deeper" in anonymous.json()["detail"]
    api_client.force_authenticate(researcher)
    signed_in = api_client.post("/api/projects/", body, content_type="application/json")
    assert signed_in.status_code == 400 and "nested deeper" in signed_in.json()["detail"]
    shallow_but_deep = api_client.post("/api/projects/", deep(100), content_type="application/json")
    assert shallow_but_deep.status_code == 400


@pytest.mark.parametrize("value", ["²", "٣", "99999999999999999999999", "-1", "1e3"])
def test_bad_project_query_values_are_400(api_client, researcher, value):
    api_client.force_authenticate(researcher)
    response = api_client.get("/api/routing/runs/", {"project": value})
    assert response.status_code == 400 and "project" in response.json()


def test_huge_ids_in_the_human_queue_are_400(api_client, researcher, project):
    api_client.force_authenticate(researcher)
    response = api_client.post("/api/projects/proj/human-queue/", {"instance_ids": [10**30]}, format="json")
    assert response.status_code == 400 and "instance_ids" in response.json()


def _annotator_task(api_client, project):
    """A qualified annotator of ``project`` holding a task (the workflow tests' own helpers)."""
    from annotation.core.schemes import default_scheme_config
    from tests.workflow.conftest import make_instances, qualified_annotator, queue_all
    from tests.workflow.test_workflow_api import next_task

    project.scheme = default_scheme_config("multipref")
    project.overlap = {"normal": 2}
    project.save()
    make_instances(project, 2)
    queue_all(project)
    api_client.force_authenticate(qualified_annotator(project, "sec-ann"))
    return next_task(api_client, project).json()["task"]


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"overall": ["A-clearly"], "aspects": {}}, "overall"),
        ({"overall": {"x": 1}, "aspects": {}}, "overall"),
        ({"overall": "A-clearly", "aspects": [["helpfulness", "A-clearly"]]}, "aspects"),
        ({"overall": "A-clearly", "aspects": {"helpfulness": ["A-clearly"]}}, "aspects.helpfulness"),
        ({"overall": "A-clearly", "justification": {"text": 1}}, "justification"),
        (["A-clearly"], "answer"),
    ],
)
def test_answers_of_the_wrong_shape_are_400_naming_the_field(api_client, project, answer, field):
    from tests.workflow.test_workflow_api import submit

    task = _annotator_task(api_client, project)
    reply = submit(api_client, project, task, answer)
    assert reply.status_code == 400, reply.content
    assert field in json.dumps(reply.json())


# --- item 8: export cells, health, uploads, CSP ---------------------------------------------------------------


def test_csv_export_escapes_formula_cells(project, tmp_path):
    from annotation.datasets.exporting import export_version
    from annotation.datasets.services import build_dataset_version

    payloads = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    for k, text in enumerate(payloads):
        instance = Instance.objects.create(
            project=project, external_id=f"f{k}", prompt=text, response_a=text, response_b="plain"
        )
        LMLabel.objects.create(instance=instance, judge="j", preference=-2)
    version = build_dataset_version(project, "v1", mode="all_lm", judge="j")
    export_version(version, tmp_path, formats=("csv",))
    cells = [cell for path in tmp_path.glob("*.csv") for row in csv.reader(path.open()) for cell in row]
    number = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # numbers (preferences) are written as numbers
    formulas = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not number.fullmatch(c)]
    assert cells and not formulas
    assert '\'=HYPERLINK("http://x")' in cells


def test_health_shows_no_versions(client):
    body = client.get("/health/").json()
    assert body == {"status": "ok"}


def _upload(api_client, name: str, **fields):
    data = io.BytesIO(json.dumps({"id": "x", "prompt": "p", "response_a": "a", "response_b": "b"}).encode())
    data.name = name
    return api_client.post("/api/projects/proj/imports/", {"file": data, **fields}, format="multipart")


def test_uploads_are_stored_under_a_server_chosen_name(api_client, researcher, project):
    api_client.force_authenticate(researcher)
    response = _upload(api_client, "payload.php", format="jsonl")
    assert response.status_code == 202, response.content
    stored = Path(Job.objects.get(pk=response.json()["id"]).params["path"])
    assert re.fullmatch(r"[0-9a-f]{32}\.jsonl", stored.name), stored.name
    refused = _upload(api_client, "payload.php")
    assert refused.status_code == 400 and "format" in refused.json()


@pytest.mark.parametrize("url", ["/login/", "/admin/login/", "/api/projects/", "/", "/health/"])
def test_every_response_has_a_csp(client, researcher, url):
    client.force_login(researcher)
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert "default-src" in response.get("Content-Security-Policy", ""), url


# --- deploy check ---------------------------------------------------------------------------------------------

PRODUCTION = {
    "HYBRIDPREF_ENV": "production",
    "SECRET_KEY": "a-long-random-production-key-" + "x7Rq2#Lm9!vB4$wZ8%nT6^pK3&" * 2,
    "ALLOWED_HOSTS": "hybridpref.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://hybridpref.example.org",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "true",
    "BEHIND_TLS_PROXY": "true",
}


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    test_only = {"DEBUG", "SECURE_COOKIES", "HYBRIDPREF_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    env |= PRODUCTION | {"HYBRIDPREF_DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout
