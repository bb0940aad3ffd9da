"""A web process loads the whole URL configuration (every API view, every page) and must not load torch,
transformers nor sentence-transformers: those cost seconds and hundreds of MB per process, and only the
workers that train or embed need them (``routing.training_runs.records`` vs ``execution``). Nor matplotlib
or the ``datasets`` library, which only drawing a plot or writing a Hugging Face folder needs: management
commands load the URL configuration too (system checks), and the importer must stay small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "sentence_transformers", "matplotlib", "datasets")
WEB_PROCESS = f"""
import json, os, sys
import platform_compat
os.environ["DJANGO_SETTINGS_MODULE"] = "platform.settings"
import django
django.setup()
import importlib
importlib.import_module("platform.urls")
print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
"""


def test_the_url_configuration_loads_no_torch():
    env = {**os.environ, "HYBRIDPREF_ENV": "test"}
    out = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
