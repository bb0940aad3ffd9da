"""WSGI entry point (gunicorn platform.wsgi)."""

import os

import platform_compat  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
