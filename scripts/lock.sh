#!/usr/bin/env bash
# Refreshes requirements/constraints.txt: the exact version of every package pyproject.toml needs (with the
# `dev` extra, without the `gpu` extra), so that every machine and CI install the same versions.
# Run it after changing dependencies in pyproject.toml, then commit the constraints file; scripts/setup.sh,
# the Dockerfile and CI install with `pip install -c requirements/constraints.txt`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-compile ] || { echo "pip-compile is missing: run scripts/setup.sh (pip-tools is a dev dependency)" >&2; exit 1; }
.venv/bin/pip-compile --quiet --extra dev --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --constraint requirements/torch-cpu.txt --output-file requirements/constraints.txt pyproject.toml
echo "requirements/constraints.txt: $(grep -c '==' requirements/constraints.txt) pinned packages"
