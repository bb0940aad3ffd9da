"""The Celery application. Start a worker with ``python manage.py run_worker`` (see README).

Queues: ``default`` (imports, exports, aggregation), ``tags`` (tag extraction), ``judge`` (LM judging and
tagging), ``gpu`` (reward-model training, in-process vLLM). Tasks acknowledge late and are re-queued when a
worker dies, so each task must be idempotent: it checks what is already done and does only the rest.
"""

from __future__ import annotations

import os

import platform_compat  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform.settings")

from celery import Celery  # noqa: E402
from celery.signals import worker_process_init  # noqa: E402
from django.conf import settings  # noqa: E402
from kombu import Queue  # noqa: E402

from routing.textual import load_ner, minilm_scorer  # noqa: E402

app = Celery("hybridpref")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in settings.CELERY_QUEUES]
app.conf.task_default_queue = "default"
# Which queue each app's tasks go to (training tasks choose gpu/default per run when they are sent).
app.conf.task_routes = {
    "routing.app.tasks.*": {"queue": "tags"},
    "annotation.judging.tasks.*": {"queue": "judge"},
}
app.conf.task_acks_late = True
app.conf.task_reject_on_worker_lost = True
app.conf.worker_prefetch_multiplier = 1
app.conf.task_track_started = True
app.conf.broker_connection_retry_on_startup = True
if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A dead worker's unacknowledged task goes back to the queue after the visibility timeout (see settings);
    # every sweep scans (throttle 1), at the interval the settings give.
    app.conf.broker_transport_options = {
        "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": settings.CELERY_RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
    }
elif settings.CELERY_BROKER_URL.startswith("filesystem://"):
    broker_dir = settings.CELERY_BROKER_DIR
    for sub in ("queue", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    app.conf.broker_transport_options = {
        "data_folder_in": str(broker_dir / "queue"),
        "data_folder_out": str(broker_dir / "queue"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
        "store_processed": False,
    }
app.autodiscover_tasks()


@worker_process_init.connect
def _load_tag_models(**_kwargs) -> None:
    """With CELERY_PRELOAD_TAG_MODELS, each worker process loads the textual-tag models (MiniLM, spaCy NER) as
    it starts: the first tags task then starts at once, and a task handed over from a dead worker resumes
    without a long pause."""
    if settings.CELERY_PRELOAD_TAG_MODELS:
        minilm_scorer(None)
        load_ner()
