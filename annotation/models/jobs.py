"""Background work the user is waiting for (an import, an export, a tagging run...).

Status lives in the database; live progress lives in the cache, because a long job usually runs inside one
database transaction (all-or-nothing) and progress written there would stay invisible until the end.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone

from annotation.progress import report as report_to_open_bar


class Job(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=64)
    project = models.ForeignKey(
        "annotation.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    FINISHED = (Status.SUCCEEDED, Status.CANCELLED)

    def execute(
        self,
        body: Callable[[Job], dict],
        expected_errors: tuple[type[Exception], ...] = (),
        cancellations: tuple[type[Exception], ...] = (),
    ) -> dict:
        """Run ``body(job)`` with the job's status kept in step; what every job-backed task does.

        A job already finished is not redone (a re-delivered task returns its result). A FAILED job may be
        run again: the bodies are resumable. Expected errors (bad input) are recorded and returned; anything
        else is recorded and re-raised, so that Celery logs it: RecursionError and MemoryError included, and
        what Python does not count as an ``Exception`` (a cancelled coroutine, a generator closed mid-way, an
        exception group): a job must never stay "running" because its body died oddly. Only ``KeyboardInterrupt`` and
        ``SystemExit`` (a worker shutting down) pass through untouched, so that the late-acknowledged task is
        delivered again and resumes. A body that stops because someone asked it to raises one of
        ``cancellations``: the job is then CANCELLED, not failed.
        """
        if self.status in self.FINISHED:
            return self.result
        Job.objects.filter(pk=self.pk).update(status=self.Status.RUNNING, error="")
        try:
            result = body(self)
        except cancellations as error:
            self._finish(self.Status.CANCELLED, error=str(error))
            return {"cancelled": str(error)}
        except expected_errors as error:
            self._finish(self.Status.FAILED, error=str(error))
            return {"error": str(error)}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:
            self._finish(self.Status.FAILED, error=_describe_failure(error))
            raise
        self._finish(self.Status.SUCCEEDED, result=result)
        return result

    def _finish(self, status: str, **fields) -> None:
        Job.objects.filter(pk=self.pk).update(status=status, finished_at=timezone.now(), **fields)
        for name, value in {"status": status, **fields}.items():
            setattr(self, name, value)

    def enqueue(self, task, queue: str | None = None) -> None:
        """Send ``task(job.pk)`` once the current transaction commits (so that the worker finds the job row),
        and remember the Celery task id."""

        def send() -> None:
            result = task.apply_async(args=[self.pk], **({"queue": queue} if queue else {}))
            Job.objects.filter(pk=self.pk).update(celery_task_id=result.id or "")

        transaction.on_commit(send)

    @property
    def _progress_key(self) -> str:
        return f"job-progress:{self.pk}"

    def report_progress(self, done: int, total: int | None = None, message: str = "") -> None:
        cache.set(self._progress_key, {"done": done, "total": total, "message": message}, timeout=7 * 86400)
        report_to_open_bar(done, total, message)  # a command running this job here draws it as a bar

    @property
    def progress(self) -> dict:
        if self.status == self.Status.SUCCEEDED:
            stored = cache.get(self._progress_key) or {}
            total = stored.get("total") or stored.get("done") or 0
            return {"done": total, "total": total, "message": "finished"}
        return cache.get(self._progress_key) or {"done": 0, "total": None, "message": ""}


def _describe_failure(error: BaseException) -> str:
    """The job's error text for an unexpected failure: a sentence even when the exception carries none."""
    if isinstance(error, RecursionError):
        return f"{type(error).__name__}: the input is nested too deeply to process ({error})."
    if isinstance(error, MemoryError):
        return f"{type(error).__name__}: the worker ran out of memory; the input is too large to process."
    return f"{type(error).__name__}: {error}"
