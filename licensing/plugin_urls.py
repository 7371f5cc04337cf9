from django.urls import path

from licensing import apis

urlpatterns = [
    path("heartbeat", apis.heartbeat, name="plugin-heartbeat"),
]
