"""The exception a training body raises when asked to stop, without torch: the run records (which the web
process imports to cancel a pending run) raise and catch it too."""

from __future__ import annotations


class TrainingCancelled(RuntimeError):
    """Raised between steps when the caller asks to stop."""
