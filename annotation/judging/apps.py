from django.apps import AppConfig


class JudgingConfig(AppConfig):
    name = "annotation.judging"
    label = "judging"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "LM judges and prompt taggers"
