"""The HybridPref Django project, which shares its name with the standard-library ``platform`` module.

Django, Celery and torch all ``import platform``. Whichever of the two a process finds first must serve both:

* when this package is found first (``python manage.py`` puts the project root on ``sys.path``), it runs
  the standard library's ``platform.py`` into its own namespace, so ``platform.system()`` and friends work;
* when the standard-library module was imported first (pytest, the ``celery`` console script),
  ``platform_compat.ensure_project_platform()`` gives that module a ``__path__`` pointing here, so
  ``platform.settings`` and ``platform.celery_app`` still import.

Nothing project-specific is defined here: this file must stay cheap, torch imports it.
"""

import os as _os
import sysconfig as _sysconfig

_STDLIB_PLATFORM = _os.path.join(_sysconfig.get_paths()["stdlib"], "platform.py")

with open(_STDLIB_PLATFORM, encoding="utf-8") as _source:
    exec(compile(_source.read(), _STDLIB_PLATFORM, "exec"), globals())  # noqa: S102
