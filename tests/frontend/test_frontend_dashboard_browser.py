"""The dashboard in real Chromium (Playwright, sync API): a researcher signs in, opens the dashboard from the
home page, changes the budget and sees it saved. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from annotation.models import Job
from tests.browser import save_screenshot, sign_in
from tests.frontend.conftest import fill_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    save_screenshot(page, f"dashboard-{name}")


def test_researcher_changes_the_budget(page, live_server, project, researcher):
    fill_project(project)
    base = live_server.url
    sign_in(page, base, researcher.username)
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
