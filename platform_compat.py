"""Make ``import platform.<submodule>`` work whichever ``platform`` module a process imported first.

See ``platform/__init__.py``. Every entry point (manage.py, wsgi, asgi, the Celery worker, pytest) calls
``ensure_project_platform()`` before it touches ``platform.settings``.
"""

from __future__ import annotations

import os
import sys

PROJECT_ROOT = os.path.dirname(os.path.abspath(__file__))
PROJECT_PLATFORM_DIR = os.path.join(PROJECT_ROOT, "platform")


def ensure_project_platform() -> None:
    """Give the already-imported ``platform`` module this project's package path if it lacks one."""
    if PROJECT_ROOT not in sys.path:
        sys.path.insert(0, PROJECT_ROOT)
    import platform

    path = getattr(platform, "__path__", None)
    if path is None:
        # The standard-library module came first: let it also act as this project's package.
        platform.__path__ = [PROJECT_PLATFORM_DIR]
    elif PROJECT_PLATFORM_DIR not in list(path):
        path.append(PROJECT_PLATFORM_DIR)


ensure_project_platform()
