"""Set-up for the judging app's tests.

Until ``annotation.judging`` is in INSTALLED_APPS, settings read it from HYBRIDPREF_EXTRA_APPS: it is added
there before Django loads the settings. Django is set up here if nothing has done it yet.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_APP = "annotation.judging"
_extra = [a for a in os.environ.get("HYBRIDPREF_EXTRA_APPS", "").split(",") if a]
if _APP not in _extra:
    os.environ["HYBRIDPREF_EXTRA_APPS"] = ",".join([*_extra, _APP])

import django  # noqa: E402
from django.apps import apps  # noqa: E402

if not apps.ready:
    django.setup()

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def judging_app() -> None:
    if not apps.is_installed(_APP):
        pytest.skip(f"{_APP} is not installed (settings were loaded before tests/judging/conftest.py)")


@pytest.fixture
def recorded() -> dict[str, dict]:
    """Recorded chat-completions responses, one per prompt type (OpenAI format, as `vllm serve` sends)."""
    return {p.stem: json.loads(p.read_text()) for p in FIXTURES.glob("*.json")}


@pytest.fixture(scope="session")
def pandalm_rows() -> list[dict]:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pandalm" / "pandalm.jsonl"
    with path.open() as handle:
        return [json.loads(line) for line in handle]
