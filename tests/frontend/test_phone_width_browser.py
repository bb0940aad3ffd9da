"""Every researcher page fits a 390 px wide phone screen: wide tables scroll inside their card, nothing
widens the page itself (Playwright, Debian chromium)."""

from __future__ import annotations

import pytest

from tests.browser import save_screenshot, sign_in
from tests.frontend.conftest import fill_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 390
# The elements sticking out of the viewport (outside any scrolling card), to name them when the check fails.
OVERFLOW_JS = """w => [...document.querySelectorAll('body *')].filter(e => {
  for (let p = e.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX === 'auto') return false;
  }
  return e.getBoundingClientRect().right > w + 1;
}).slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)"""


def test_pages_fit_a_phone(browser, live_server, routable, researcher):
    from routing.app.services import route_project

    run = route_project(routable, routable.ppm_artifacts.get(name="ppm-frontend"), 8, "top_k")
    fill_project(routable)  # rows in every dashboard table (a newer run, a version, jobs)
    context = browser.new_context(viewport={"width": WIDTH, "height": 844})
    page = context.new_page()
    page.set_default_timeout(60_000)
    base = live_server.url
    sign_in(page, base, researcher.username)
    name = routable.name
    for slug, path in [
        ("home", "/"),
        ("dashboard", f"/projects/{name}/"),
        ("routing", f"/projects/{name}/routing/?ppm=ppm-frontend&budget=10%25"),
        ("run", f"/projects/{name}/routing/runs/{run.pk}/?sort=-gain"),
        ("setup", f"/projects/{name}/setup/"),
        ("results", f"/projects/{name}/results/"),
        ("new", "/projects/new/"),
        ("404", "/projects/nope/"),
    ]:
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        save_screenshot(page, f"phone-{slug}")
        assert width <= WIDTH, f"{path} is {width}px wide: {page.evaluate(OVERFLOW_JS, WIDTH)}"
    context.close()
