"""Fixtures for tests/reward (a fallback shared_data in case tests/conftest.py does not provide one)."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} not present")
    return SHARED


@pytest.fixture(autouse=True)
def _training_apps_installed(request) -> None:
    """DB tests need the training app and the datasets app in INSTALLED_APPS (HYBRIDPREF_EXTRA_APPS until then)."""
    if request.node.get_closest_marker("django_db"):
        from django.apps import apps

        for app in ("annotation.datasets", "routing.training"):
            if not apps.is_installed(app):
                pytest.skip(
                    f"{app} is not installed: run with HYBRIDPREF_EXTRA_APPS=annotation.datasets,routing.training"
                )
