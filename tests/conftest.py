"""Shared fixtures: the real shared data, users of each role, an API client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import ARGS, CHROMIUM

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the project (real third-party data; read in place, never copied)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data folder is missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def pandalm_path(shared_data: Path) -> Path:
    return shared_data / "pandalm" / "pandalm.jsonl"


def make_user(username: str, role: str):
    from django.contrib.auth.models import User

    from annotation.models import UserProfile

    user = User.objects.create_user(username=username, password=f"{username}-pass-1234")
    UserProfile.objects.filter(user=user).update(role=role)
    user.refresh_from_db()
    return user


@pytest.fixture
def admin_user(db):
    from django.contrib.auth.models import User

    return User.objects.create_superuser("admin1", "admin@example.org", "admin1-pass-1234")


@pytest.fixture
def researcher(db):
    return make_user("researcher1", "researcher")


@pytest.fixture
def annotator(db):
    return make_user("annotator1", "annotator")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def project(db, researcher):
    from annotation.models import Project, ProjectMembership

    project = Project.objects.create(name="proj", created_by=researcher)
    ProjectMembership.objects.create(project=project, user=researcher, role="researcher")
    return project


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Debian's chromium is missing at {CHROMIUM}: run scripts/setup.sh (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A page that records every dialog (dismissed: a dialog means injected script ran) and console error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20000)  # generous: CI machines are small and busy
    opened = context.new_page()
    opened.dialogs, opened.console_errors = [], []
    opened.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    opened.on("console", lambda m: opened.console_errors.append(m.text) if m.type == "error" else None)
    yield opened
    context.close()
