from django.apps import AppConfig


class JudgingConfig(AppConfig):
    name = "annotation.judging"
    label = "judging"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "LM judges and prompt taggers"

    def ready(self) -> None:
        # Imported files may carry per-order LM verdicts; the base app announces them, this app stores them.
        from annotation.importing.signals import order_verdicts_imported
        from annotation.judging.imported import store_imported_orders

        order_verdicts_imported.connect(store_imported_orders, dispatch_uid="judging-imported-orders")
