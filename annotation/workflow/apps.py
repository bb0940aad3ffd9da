from django.apps import AppConfig

from annotation.gold import register_gold_source


class WorkflowConfig(AppConfig):
    name = "annotation.workflow"
    label = "workflow"
    verbose_name = "Annotation workflow"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The agreement report (datasets, below this app) asks annotation.gold; answer it here, once the
        # models the answer reads are loaded.
        from annotation.workflow.gold import known_gold_answers

        register_gold_source(known_gold_answers)
