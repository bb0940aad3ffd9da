"""Set-up for the datasets app's tests.

Until ``annotation.datasets`` is in INSTALLED_APPS, run these tests with
``HYBRIDPREF_EXTRA_APPS=annotation.datasets`` (settings read it); without it the database tests skip with
that message. The pure-core tests (aggregation, agreement) run either way.
"""

from __future__ import annotations

import pytest
from django.apps import apps

_APP = "annotation.datasets"


@pytest.fixture(autouse=True)
def _datasets_app_installed(request) -> None:
    if request.node.get_closest_marker("django_db") and not apps.is_installed(_APP):
        pytest.skip(f"{_APP} is not installed: run with HYBRIDPREF_EXTRA_APPS={_APP}")
