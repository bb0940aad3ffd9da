from django.apps import AppConfig

from annotation.routes import register_routing_source


class RoutingAppConfig(AppConfig):
    name = "routing.app"
    label = "routing"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Routing: tags, PPM artifacts, routing runs"

    def ready(self) -> None:
        # Annotation asks routing through ``annotation.routes`` (it never imports this app); answer it here,
        # once the models this answer reads are loaded.
        from routing.app.source import RoutingAppSource

        register_routing_source(RoutingAppSource())
