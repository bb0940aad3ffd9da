"""pytest plugin loaded with ``-p pytest_bootstrap`` (pyproject addopts), before pytest-django reads settings.

pytest imports the standard-library ``platform`` before this runs; ``platform_compat`` then lets the
project's ``platform`` package be imported alongside it (see platform/__init__.py).
"""

import os
import tempfile

import platform_compat  # noqa: F401

os.environ.setdefault("HYBRIDPREF_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform.settings")
# Each test run gets its own data directory (uploads, exports, cache, broker), never the developer's var/.
os.environ.setdefault("HYBRIDPREF_DATA_DIR", tempfile.mkdtemp(prefix="hybridpref-test-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
