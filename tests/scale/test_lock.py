"""The lock file covers pyproject.toml: every dependency (with the dev extra) is pinned to one version, torch
to the CPU build, and nothing of the GPU stack slips in. A dependency added without `scripts/lock.sh`
fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith(("#", " ")):
            name, sep, version = line.partition("==")
            assert sep, f"requirements/constraints.txt: {line!r} is not pinned with =="
            pins[_name(name)] = version.strip()
    return pins


def test_every_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = _pins()
    missing = []
    for spec in wanted:
        req = Requirement(spec)
        version = pins.get(_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            missing.append(f"{spec} (locked: {version})")
    assert not missing, f"run scripts/lock.sh: requirements/constraints.txt does not satisfy {missing}"


def test_cpu_torch_and_no_gpu_stack():
    pins = _pins()
    assert pins["torch"] == "2.13.0+cpu"
    gpu = sorted(n for n in pins if n.startswith(("nvidia-", "vllm", "triton")))
    assert gpu == [], f"GPU packages in the lock file: {gpu}"
