"""Helpers for the browser tests (the ``browser`` and ``page`` fixtures live in tests/conftest.py):
Debian's chromium, never a browser download."""

from __future__ import annotations

import os
from pathlib import Path

# Playwright's sync API runs an event loop in the test thread; the tests' own ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def save_screenshot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, base: str, username: str, next_url: str = "/") -> None:
    """Sign in with the keyboard (test users' passwords are ``<username>-pass-1234``)."""
    page.goto(f"{base}/login/?next={next_url}", timeout=120_000)  # a cold server imports every view first
    page.wait_for_selector("#id_username:focus")  # autofocus; typing before it lands would be lost
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(f"{username}-pass-1234")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}{next_url}")
