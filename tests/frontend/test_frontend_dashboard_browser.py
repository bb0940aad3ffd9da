"""The dashboard in real Chromium (Playwright, sync API): a researcher signs in, opens the dashboard from the
home page, changes the budget and sees it saved. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from annotation.models import Job
from tests.frontend.conftest import fill_project

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20000)  # generous: CI machines are small and busy
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.console_errors = errors
    yield opened
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)


def test_researcher_changes_the_budget(page, live_server, project, researcher):
    fill_project(project)
    base = live_server.url
    page.goto(f"{base}/login/?next=/")
    page.wait_for_selector("#id_username:focus")  # autofocus; typing before it lands would be lost
    page.keyboard.type(researcher.username)
    page.keyboard.press("Tab")
    page.keyboard.type(f"{researcher.username}-pass-1234")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    page.click(f'a.dashboard-link[href="/projects/{project.name}/"]')
    page.wait_for_url(f"{base}/projects/{project.name}/")
    assert page.text_content("#count-instances").strip() == "6"
    # The stylesheet is ours and loaded (the page's CSP allows only 'self').
    assert page.eval_on_selector(".dash-grid", "e => getComputedStyle(e).display") == "grid"
    shot(page, "01-overview")

    page.fill("#id_human_budget", "3")
    page.fill("#id_human_budget_fraction", "0.5")
    page.click("#save-settings")
    page.wait_for_selector(".message.error")
    assert "not both" in page.text_content("#messages")
    shot(page, "02-budget-error")

    page.fill("#id_human_budget", "")
    page.fill("#id_human_budget_fraction", "0.5")
    page.fill("#id_overlap_normal", "3")
    page.click("#save-settings")
    page.wait_for_selector(".message.success")
    assert page.input_value("#id_human_budget_fraction") == "0.5"
    assert page.input_value("#id_overlap_normal") == "3"
    project.refresh_from_db()
    assert (project.human_budget, project.human_budget_fraction) == (None, 0.5)
    assert project.overlap["normal"] == 3
    assert "3 of 6 instances" in page.text_content("#budget-now")
    shot(page, "03-saved")

    page.click("#show-agreement")
    page.wait_for_selector("#agreement-human")
    shot(page, "04-agreement")
    page.select_option("#datasets select[name=format]", "csv")
    page.click("#datasets form.export-form button")
    page.wait_for_selector(".message.success")
    assert "Started export job" in page.text_content("#messages")
    job = Job.objects.filter(kind="export_dataset").latest("id")
    assert job.params["formats"] == ["csv"] and job.created_by_id == researcher.pk
    page.wait_for_selector(f'#jobs tr[data-job="{job.pk}"]')
    shot(page, "05-export-started")
    blocked = [e for e in page.console_errors if "Content Security Policy" in e]
    assert blocked == []  # nothing on the page is refused by its Content-Security-Policy
