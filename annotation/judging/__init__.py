"""LM judging and prompt tagging inside the platform: records, Celery tasks, management commands."""
