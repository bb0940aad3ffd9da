"""The REST API of the annotation app (DRF). Permissions come from ``annotation.permissions``."""
