"""Fixtures for the security tests: throttle counters and axes lockouts start empty in every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_throttles_and_lockouts():
    """The token endpoint's throttle counts live in the cache, shared by every test of a run; axes keeps its
    records in the database (rolled back per test). Clearing the cache keeps each test's counts its own."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
