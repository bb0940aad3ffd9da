"""Set-up for the datasets app's tests.

Until ``annotation.datasets`` is in INSTALLED_APPS, settings read it from HYBRIDPREF_EXTRA_APPS: it is added
there before Django loads the settings. Django is set up here if nothing has done it yet.
"""

from __future__ import annotations

import os

import pytest

_APP = "annotation.datasets"
_extra = [a for a in os.environ.get("HYBRIDPREF_EXTRA_APPS", "").split(",") if a]
if _APP not in _extra:
    os.environ["HYBRIDPREF_EXTRA_APPS"] = ",".join([*_extra, _APP])

import django  # noqa: E402
from django.apps import apps  # noqa: E402

if not apps.ready:
    django.setup()


@pytest.fixture(autouse=True)
def _datasets_app_installed() -> None:
    if not apps.is_installed(_APP):
        pytest.skip(f"{_APP} is not installed (settings were loaded before tests/datasets/conftest.py)")
