from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "routing.training"
    label = "training"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Reward models, PPM loop, routing experiments"
