"""URL routes of the shop example."""
from django.urls import path

from orders import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("orders/", views.orders, name="orders"),
]
