from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """The orders app: one model and the JSON views."""

    name = "orders"
