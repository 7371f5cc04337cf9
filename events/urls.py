from django.urls import path

from events import apis

urlpatterns = [
    path("events", apis.EventListApi.as_view(), name="event-list"),
    path("webhook-endpoints", apis.EndpointListApi.as_view(), name="webhook-endpoint-list"),
    path("webhook-endpoints/<uuid:endpoint_id>", apis.EndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/rotate-secret",
        apis.EndpointRotateSecretApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path("webhook-endpoints/<uuid:endpoint_id>/ping", apis.EndpointPingApi.as_view(), name="webhook-endpoint-ping"),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries",
        apis.DeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry",
        apis.DeliveryRetryApi.as_view(),
        name="webhook-delivery-retry",
    ),
]
