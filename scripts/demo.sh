#!/usr/bin/env bash
# README command 1: install, migrate, create the demo project and logins, then run the web server and a
# Celery worker on the embedded default (SQLite + filesystem broker in ./var). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HYBRIDPREF_ENV=${HYBRIDPREF_ENV:-demo} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
PY=.venv/bin/python

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
$PY manage.py setup_demo

$PY manage.py run_worker --loglevel=warning &
worker=$!
$PY manage.py runserver "$HOST:$PORT" --noreload --skip-checks &
web=$!
trap 'kill $web $worker 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

for _ in $(seq 60); do
  if curl -fs "http://$HOST:$PORT/health/" >/dev/null 2>&1; then break; fi
  sleep 1
done
cat <<MSG

HybridPref demo is running: http://$HOST:$PORT/   (API docs: http://$HOST:$PORT/api/docs/)
Sign in with one of the logins printed above. Press Ctrl-C to stop.
The worker is computing the tags and the PPM loop of the 1,000-instance project demo-routing; sign in as
demo-researcher and open http://$HOST:$PORT/projects/demo-routing/ : the budget curve appears there within a
few minutes (progress is shown meanwhile), then pick a budget and route at /projects/demo-routing/routing/.
Try an upload import through the worker:
  TOKEN=\$(curl -s -d username=demo-researcher -d password=<password> http://$HOST:$PORT/api/auth/token/ | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Token \$TOKEN" -F file=@annotation/demo/sample_instances.jsonl -F on_existing=update http://$HOST:$PORT/api/projects/demo/imports/
MSG
wait
