from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Annotation"

    def ready(self) -> None:
        from annotation import signals  # noqa: F401
