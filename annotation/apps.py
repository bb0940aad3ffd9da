from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Annotation"

    def ready(self) -> None:
        # Load the project's Celery app so that every process that sends tasks (web, shell, commands)
        # sends them to the configured broker, not to Celery's built-in default.
        import platform.celery_app  # noqa: F401
        from annotation import signals  # noqa: F401
