"""The pages every response's Content-Security-Policy now covers, in real Chromium: the API docs (Swagger UI
from this server, not a CDN) and the browsable API render, and nothing on them is refused by the policy."""

from __future__ import annotations

import pytest

from tests.browser import save_screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_and_browsable_api_work_under_the_csp(page, live_server, researcher):
    base = live_server.url
    sign_in(page, base, researcher.username)
    docs = page.goto(f"{base}/api/docs/")
    assert "default-src" in docs.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .info .title")
    assert "HybridPref API" in page.text_content(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag")  # the schema was fetched and drawn
    save_screenshot(page, "security-api-docs")
    browsable = page.goto(f"{base}/api/projects/")
    assert "default-src" in browsable.headers["content-security-policy"]
    page.wait_for_selector(".response-info")
    blocked = [e for e in page.console_errors if "Content Security Policy" in e]
    assert blocked == [], blocked
