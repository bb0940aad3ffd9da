from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "annotation.workflow"
    label = "workflow"
    verbose_name = "Annotation workflow"
    default_auto_field = "django.db.models.BigAutoField"
