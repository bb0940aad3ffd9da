"""ASGI entry point."""

import os

import platform_compat  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
