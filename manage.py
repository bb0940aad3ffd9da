#!/usr/bin/env python
"""Django's command-line utility: the HybridPref CLI (``python manage.py help`` lists the commands)."""

import os
import sys

import platform_compat  # noqa: F401  (must run before anything imports platform.settings)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
