from django.apps import AppConfig


class RoutingAppConfig(AppConfig):
    name = "routing.app"
    label = "routing"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Routing: tags, PPM artifacts, routing runs"
