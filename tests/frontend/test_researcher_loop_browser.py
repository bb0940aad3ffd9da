"""The researcher's whole loop in real Chromium, with no command line: a new project, upload of 1,000
generated instances, textual tags, the PPM loop, the budget curve, a budget picked on the curve and typed,
a routing run and its page, an annotator served exactly the routed instances, a hybrid version and its
export downloaded. Screenshots go to test-artifacts/screenshots/.

Celery runs eagerly here (each job runs inside the request that starts it, on the live server), so the test
needs no worker; the worker path itself is covered by tests/foundation. The data is the demo generator's
compact form (short texts) so that MiniLM tags and embeds it quickly; K is small.
"""

from __future__ import annotations

import json
import zipfile

import pytest

from annotation.demo.generator import COMPACT, write_jsonl
from tests.browser import save_screenshot, sign_in
from tests.conftest import make_user
from tests.workflow.conftest import MP_ANSWER, qualified_annotator

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LONG_MS = 900_000  # tags and the PPM loop on 1,000 instances run inside one request each


def shot(page, name: str) -> None:
    save_screenshot(page, f"loop-{name}")


@pytest.fixture
def eager_celery():
    from platform.celery_app import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before


def _click_and_wait(page, selector: str) -> None:
    with page.expect_navigation(timeout=LONG_MS):
        page.click(selector, timeout=LONG_MS)


def _create_and_upload(page, base: str, tmp_path) -> None:
    page.click("#new-project")
    page.fill("#np-name", "loop1000")
    page.fill("#np-description", "The researcher's loop on generated data")
    page.check("input[name=scheme][value=multipref]")
    _click_and_wait(page, "#create-project")
    assert page.url == f"{base}/projects/loop1000/setup/"
    data = write_jsonl(tmp_path / "demo-1000.jsonl", COMPACT)
    page.set_input_files("#upload-file", str(data))
    with page.expect_navigation(timeout=LONG_MS):  # the job ends, the poller reloads the page
        page.click("#upload-button", timeout=LONG_MS)
    page.wait_for_function("document.querySelector('#setup-instances').textContent.trim() === '1000'")
    shot(page, "01-imported")


def _tags_and_loop(page) -> None:
    page.click("a[href='/projects/loop1000/routing/']")
    _click_and_wait(page, "#start-tags")
    assert "1000 of 1000 instances" in page.text_content("#tags-state")
    shot(page, "02-tags")
    page.fill("#loop-k", "24")
    page.select_option("#loop-judge", "demo-judge")
    _click_and_wait(page, "#start-loop")
    assert "Started PPM loop" in page.text_content("#messages")
    assert page.locator("#loop-runs table.metrics tbody tr").count() >= 3  # linear, quadratic, LightGBM
    page.wait_for_function("document.getElementById('curve-img').naturalWidth > 0")
    shot(page, "03-curve")


def _pick_budget(page) -> None:
    box = page.locator("#curve-img").bounding_box()
    with page.expect_navigation():  # a click on the plot picks the budget under the pointer
        page.mouse.click(box["x"] + box["width"] * (0.11 + 0.86 * 0.3), box["y"] + box["height"] / 2)
    assert page.input_value("#pick-budget").endswith("%")
    assert page.locator("#picked-gain").count() == 1
    page.fill("#pick-budget", "1%")
    _click_and_wait(page, "#show-curve")
    assert page.text_content("#picked-count").startswith("10 instances")
    assert "40 annotations" in page.text_content("#picked-count")  # overlap 2 normal + 2 expert
    shot(page, "04-picked")


def _route(page) -> list[str]:
    assert page.input_value("#route-budget") == "1%"
    page.select_option("#route-strategy", "top_k")
    _click_and_wait(page, "#route-button")
    assert page.text_content("#run-human").strip() == "10"
    routed = page.eval_on_selector_all("#routed-table tbody tr", "rows => rows.map(r => r.dataset.instance)")
    assert len(routed) == 10
    page.wait_for_function("document.getElementById('gain-chart').naturalWidth > 0")
    shot(page, "05-routing-run")
    return routed


def _annotate_all(browser, base: str, project) -> list[str]:
    """An annotator's session asks for tasks until there are none, answering each one."""
    annotator = qualified_annotator(project, "annotator-loop")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(120_000)
    sign_in(page, base, annotator.username)
    page.goto(f"{base}/annotate/loop1000/task/")
    shot(page, "06-annotator-task")
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    headers = {"X-CSRFToken": token, "Content-Type": "application/json", "Referer": base + "/"}
    served = []
    for _ in range(20):
        reply = page.request.post(f"{base}/api/projects/loop1000/tasks/next/", headers=headers, data="{}")
        task = reply.json()["task"]
        if task is None:
            break
        served.append(task["instance"])
        done = page.request.post(
            f"{base}/api/projects/loop1000/tasks/{task['id']}/submit/",
            headers=headers,
            data=json.dumps({"answer": MP_ANSWER, "lease_token": task["lease_token"]}),
        )
        assert done.status in (200, 201), done.text()
    context.close()
    return served


def _version_and_export(page, base: str, tmp_path) -> None:
    page.goto(f"{base}/projects/loop1000/")
    page.fill("#build-name", "hybrid-v1")
    page.select_option("#build-mode", "routing")
    page.select_option("#build-judge", "demo-judge")
    _click_and_wait(page, "#datasets form.build-form button")
    page.wait_for_selector('tr[data-version="hybrid-v1"]')
    page.select_option('tr[data-version="hybrid-v1"] select[name=format]', "jsonl")
    _click_and_wait(page, 'tr[data-version="hybrid-v1"] form.export-form button')
    shot(page, "07-exported")
    with page.expect_download() as download_info:
        page.click("#jobs a.download")
    target = tmp_path / "export.download"
    download_info.value.save_as(target)
    names = zipfile.ZipFile(target).namelist() if zipfile.is_zipfile(target) else [target.name]
    assert target.stat().st_size > 0 and names


def test_researcher_loop_without_a_terminal(page, browser, live_server, eager_celery, tmp_path):
    from annotation.models import Project
    from routing.app.models import RoutingDecision

    researcher = make_user("researcher-loop", "researcher")
    base = live_server.url
    page.set_default_timeout(120_000)  # a busy two-core machine runs the server, the jobs and the browser
    sign_in(page, base, researcher.username)
    _create_and_upload(page, base, tmp_path)
    _tags_and_loop(page)
    _pick_budget(page)
    routed = _route(page)
    project = Project.objects.get(name="loop1000")
    human = RoutingDecision.objects.filter(run__project=project, route="human")
    assert set(routed) == set(human.values_list("instance__external_id", flat=True))

    served = _annotate_all(browser, base, project)
    assert sorted(served) == sorted(routed)  # the queue serves exactly the routed instances

    _version_and_export(page, base, tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/projects/loop1000/", "/projects/loop1000/routing/"):
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide at a 390px viewport"
    shot(page, "08-phone-width")
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
