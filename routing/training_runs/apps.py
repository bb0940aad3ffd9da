from django.apps import AppConfig


class TrainingConfig(AppConfig):
    """Label ``training``, not the package name: existing tables, content types and migration history are
    recorded under that label (see the package docstring)."""

    name = "routing.training_runs"
    label = "training"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Training runs: reward models, PPM loop, routing experiments"
