#!/usr/bin/env bash
# Scale-out on one machine, as it runs on several: WEB_PROCESSES gunicorn servers (each standing for a web
# machine, ports BASE_PORT, BASE_PORT+1, ...) and two Celery workers, one per queue group (default,tags and
# judge), all against one PostgreSQL, one Redis and one data directory. Ctrl-C stops everything it started.
#
#   DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://.../0 REDIS_URL=redis://.../1 \
#   SECRET_KEY=... ALLOWED_HOSTS=... bash scripts/scale_out.sh
#
# Optional: WEB_PROCESSES (2), WEB_WORKERS per process (3), BASE_PORT (8000), BIND (127.0.0.1).
# On separate machines run the same commands there (docs/DEPLOYMENT.md), pointing at the same servers.
set -euo pipefail
cd "$(dirname "$0")/.."

WEB_PROCESSES=${WEB_PROCESSES:-2}
WEB_WORKERS=${WEB_WORKERS:-3}
BASE_PORT=${BASE_PORT:-8000}
BIND=${BIND:-127.0.0.1}

need_shared() {
  local name=$1 prefix=$2 value=${!1:-}
  if [[ "$value" != "$prefix"* ]]; then
    echo "$name must point at the shared server ($prefix...): processes on several machines cannot share" \
      "the embedded SQLite file, filesystem broker or file cache" >&2
    exit 2
  fi
}
need_shared DATABASE_URL postgres
need_shared CELERY_BROKER_URL redis://
need_shared REDIS_URL redis://
for n in WEB_PROCESSES WEB_WORKERS BASE_PORT; do
  [[ "${!n}" =~ ^[0-9]+$ ]] && [ "${!n}" -ge 1 ] || { echo "$n must be a positive whole number, got '${!n}'" >&2; exit 2; }
done
[ "$WEB_PROCESSES" -le 16 ] || { echo "WEB_PROCESSES must be at most 16, got $WEB_PROCESSES" >&2; exit 2; }
PY=.venv/bin/python
[ -x .venv/bin/gunicorn ] || { echo ".venv/bin/gunicorn is missing: run scripts/setup.sh" >&2; exit 1; }

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# Once, before any server starts (never from each web process at the same time).
$PY manage.py migrate --noinput

for k in $(seq 0 $((WEB_PROCESSES - 1))); do
  port=$((BASE_PORT + k))
  .venv/bin/gunicorn -c platform/gunicorn.conf.py platform.wsgi:application --bind "$BIND:$port" --workers "$WEB_WORKERS" \
    --access-logfile - --log-level warning &
  pids+=($!)
  echo "web $k: http://$BIND:$port/ (pid $!)"
done
CELERY_PRELOAD_TAG_MODELS=${CELERY_PRELOAD_TAG_MODELS:-1} \
  $PY manage.py run_worker --queues=default,tags --concurrency=1 --loglevel=warning &
pids+=($!)
echo "worker default,tags (pid $!)"
$PY manage.py run_worker --queues=judge --concurrency=1 --loglevel=warning &
pids+=($!)
echo "worker judge (pid $!)"

# Stop everything as soon as one of them exits: a half-started deployment is not one.
wait -n
echo "a process exited; stopping the others" >&2
exit 1
