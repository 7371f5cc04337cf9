from django.urls import path

from licensing import plugin

urlpatterns = [
    path("heartbeat", plugin.heartbeat, name="plugin-heartbeat"),
]
