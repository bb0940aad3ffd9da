#!/usr/bin/env bash
# README command 2: install everything, then run the whole suite twice — on PostgreSQL with the Redis
# broker, and on the embedded default (SQLite + filesystem broker). Extra arguments go to pytest.
# HYBRIDPREF_TEST_DATABASES=sqlite (or postgres) runs one of the two.
# Tests marked browser or slow drive chromium or real models: what they check does not depend on the database,
# so they run in the SQLite pass only (HYBRIDPREF_PG_MARKERS="" runs them on PostgreSQL too). Everything that
# touches the database in a database-specific way (concurrency, locks, EXPLAIN, the worker-kill test) runs on
# PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONDONTWRITEBYTECODE=1
runs=${HYBRIDPREF_TEST_DATABASES:-postgres sqlite}
pg_markers=${HYBRIDPREF_PG_MARKERS-not browser and not slow}

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check .; exit 1; }
echo "== import layers (docs/ARCHITECTURE.md)"
.venv/bin/lint-imports --no-cache

# One pass per database. With both passes asked for, they run at the same time (each is mostly one busy core
# and this machine has two), each into its own log, printed whole when it ends; HYBRIDPREF_TEST_SERIAL=1 runs
# them one after the other with live output.
run_pass() {
  case "$1" in
    postgres)
      echo "== pytest on PostgreSQL with the Redis broker"
      DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hybridpref} \
      CELERY_BROKER_URL=${TEST_BROKER_URL:-redis://127.0.0.1:6379/14} \
      REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
        .venv/bin/python -m pytest -p no:cacheprovider ${pg_markers:+-m "$pg_markers"} "${@:2}"
      ;;
    sqlite)
      echo "== pytest on the embedded default (SQLite, filesystem broker)"
      env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL \
        .venv/bin/python -m pytest -p no:cacheprovider "${@:2}"
      ;;
    *) echo "unknown database run: $1" >&2; return 2 ;;
  esac
}

case " $runs " in
  *" postgres "*)
    bash scripts/services.sh
    redis-cli -h 127.0.0.1 -n 14 flushdb >/dev/null && redis-cli -h 127.0.0.1 -n 15 flushdb >/dev/null
    ;;
esac

status=0
set -- $runs -- "$@"
passes=()
while [ "$1" != "--" ]; do passes+=("$1"); shift; done
shift
if [ "${#passes[@]}" -gt 1 ] && [ "${HYBRIDPREF_TEST_SERIAL:-0}" != 1 ]; then
  logs=$(mktemp -d)
  pids=()
  for run in "${passes[@]}"; do
    run_pass "$run" "$@" >"$logs/$run.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!passes[@]}"; do
    wait "${pids[$i]}" || status=$?
    cat "$logs/${passes[$i]}.log"
  done
  rm -rf "$logs"
else
  for run in "${passes[@]}"; do
    run_pass "$run" "$@" || status=$?
  done
fi
exit $status
