"""Least privilege and untrusted content: what an annotator can read, what model output can do."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from annotation.models import HumanLabel, LMLabel
from annotation.workflow import assignment as tasks
from annotation.workflow.models import QualificationAttempt
from annotation.workflow.render import ALLOWED_TAGS, render_markdown
from tests.conftest import make_user
from tests.workflow.conftest import MP_ANSWER, join, qualified_annotator

XSS_PAYLOADS = [
    "<script>alert('xss-script')</script>",
    "<img src=x onerror=\"alert('xss-onerror')\">",
    "<svg onload=alert('xss-svg')></svg>",
    "[click me](javascript:alert('xss-link'))",
    "[click me](JAVASCRIPT:alert('xss-upper'))",
    "[tricky](<javascript:alert('xss-angle')>)",
    "[entity](javascript&#58;alert('xss-entity'))",
    "![img](javascript:alert('xss-img'))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<iframe src=\"javascript:alert('xss-iframe')\"></iframe>",
    "<a href=\"javascript:alert('xss-rawlink')\">raw</a>",
    "[ref link][r]\n\n[r]: javascript:alert('xss-ref')",
    "<div style=\"background:url(javascript:alert(1))\" onmouseover=alert('xss-hover')>hover</div>",
    "```html\n<script>alert('in-code')</script>\n```",
]
SAFE_URL = re.compile(r"^(https?:|mailto:|[^:]*$)", re.IGNORECASE)


class _Elements(HTMLParser):
    """Every element and attribute the browser would build from the HTML."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_rendered_markdown_has_no_active_content(payload):
    html = render_markdown(payload)
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag in ALLOWED_TAGS, html
        for name, value in attrs:
            assert not name.startswith("on") and name != "style", html
            if name in {"href", "src"}:
                assert SAFE_URL.match(value or ""), html


def test_code_blocks_and_safe_links_survive():
    html = render_markdown("See [docs](https://example.org).\n\n```python\nprint('<b>')\n```")
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<code class="language-python">' in html and "&lt;b&gt;" in html


SECRET_HUMAN = "SECRET-OTHER-ANNOTATOR-JUSTIFICATION"
SECRET_JUDGE = "secret-judge-model-xyz"


def _api_routes():
    """Every URL pattern under /api/ as (route name, kwarg names), walking includes."""
    found: list[tuple[str, set[str]]] = []

    def walk(patterns, kwargs: set[str]):
        for pattern in patterns:
            names = set(getattr(pattern.pattern, "converters", {}) or {})
            regex = getattr(pattern.pattern, "regex", None)
            if regex is not None:
                names |= set(regex.groupindex)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, kwargs | names)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.append((pattern.name, kwargs | names))

    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    walk(api.url_patterns, set())
    return found


@pytest.mark.django_db
def test_annotator_reads_no_other_labels_lm_labels_or_routing_anywhere(api_client, mp_project):
    from django.urls import NoReverseMatch, reverse

    other = qualified_annotator(mp_project, "other")
    me = qualified_annotator(mp_project, "me")
    a = tasks.next_task(other, mp_project).assignment
    tasks.submit(a.pk, other, {**MP_ANSWER, "justification": SECRET_HUMAN}, lease_token=a.lease_token)
    a.refresh_from_db()
    LMLabel.objects.create(instance=a.instance, judge=SECRET_JUDGE, preference=1)
    HumanLabel.objects.create(
        instance=a.instance,
        annotator_ref="imported:7",
        source="imported",
        preference=2,
        answers={"j": SECRET_HUMAN},
    )
    attempt = QualificationAttempt.objects.filter(user=other).first()
    ids = {
        a.pk,
        a.label_id,
        LMLabel.objects.get().pk,
        attempt.pk,
        HumanLabel.objects.last().pk,
    }
    client = api_client
    client.force_authenticate(me)
    checked = 0
    for name, kwarg_names in _api_routes():
        choices = [{}]
        for kwarg in kwarg_names:
            values: list = (
                [mp_project.name]
                if kwarg in {"project", "name"}
                else ["json"]
                if kwarg == "format"
                else [a.instance.external_id]
                if kwarg == "external_id"
                else sorted(ids)
            )
            choices = [dict(c, **{kwarg: v}) for c in choices for v in values]
        for kwargs in choices:
            try:
                url = reverse(name, kwargs=kwargs)
            except NoReverseMatch:
                continue
            reply = client.get(url)
            checked += 1
            text = reply.content.decode(errors="replace")
            assert SECRET_HUMAN not in text, url
            assert SECRET_JUDGE not in text, url
            if reply.status_code == 200 and ("labels" in url or "routing" in url):
                pytest.fail(f"{url} answered an annotator with 200")
    assert checked > 20
    # the task on the same instance shows no trace of the other labels either
    reply = client.post(f"/api/projects/{mp_project.name}/tasks/next/", format="json")
    assert reply.json()["task"]["instance"] == a.instance.external_id
    assert SECRET_HUMAN not in reply.content.decode() and SECRET_JUDGE not in reply.content.decode()
    # nor can the annotator submit or skip someone else's task
    assert (
        client.post(
            f"/api/projects/{mp_project.name}/tasks/{a.pk}/skip/",
            {"lease_token": a.lease_token},
            format="json",
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/projects/{mp_project.name}/tasks/{a.pk}/submit/",
            {"answer": MP_ANSWER, "lease_token": a.lease_token},
            format="json",
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/projects/{mp_project.name}/qualification/attempts/{attempt.pk}/submit/",
            {"answers": {}},
            format="json",
        ).status_code
        == 404
    )


@pytest.mark.django_db
def test_unqualified_annotator_gets_no_task(api_client, client, mp_project):
    person = join(mp_project, make_user("fresh", "annotator"))
    api_client.force_authenticate(person)
    reply = api_client.post(f"/api/projects/{mp_project.name}/tasks/next/", format="json")
    assert reply.status_code == 403 and reply.json()["code"] == "not-qualified"
    assert "task" not in reply.json()
    assert not tasks.Assignment.objects.exists()
    client.force_login(person)
    page = client.get(f"/annotate/{mp_project.name}/task/")
    assert page.status_code == 302 and page["Location"].endswith(f"/annotate/{mp_project.name}/qualify/")


@pytest.mark.django_db
def test_pages_send_a_strict_csp(client, mp_project):
    person = qualified_annotator(mp_project, "ann")
    client.force_login(person)
    page = client.get(f"/annotate/{mp_project.name}/task/")
    assert page.status_code == 200
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert b"<script>" not in page.content  # no inline script at all


@pytest.mark.django_db
def test_progress_page_is_for_managers_only(client, mp_project, researcher):
    person = qualified_annotator(mp_project, "ann")
    client.force_login(person)
    assert client.get(f"/annotate/{mp_project.name}/progress/").status_code == 404
    client.force_login(researcher)
    page = client.get(f"/annotate/{mp_project.name}/progress/")
    assert page.status_code == 200 and b"0 of 18 annotations" in page.content
