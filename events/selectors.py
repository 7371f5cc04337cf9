from datetime import timedelta

from django.utils import timezone

from events.models import PING, Event, WebhookDelivery, WebhookEndpoint

EVENTS_KEPT_DAYS = 30


def events_for_host(*, host, livemode, type=None):
    """The host's events of the last 30 days in one mode (pings excluded: they only test an endpoint)."""
    since = timezone.now() - timedelta(days=EVENTS_KEPT_DAYS)
    queryset = Event.objects.filter(host=host, livemode=livemode, created_at__gte=since).exclude(type=PING)
    if type is not None:
        queryset = queryset.filter(type=type)
    return queryset


def endpoints_for_host(*, host, livemode):
    return WebhookEndpoint.objects.filter(host=host, livemode=livemode)


def endpoint_for_host(*, host, livemode, endpoint_id):
    """One endpoint, or None: another host's, or the other mode's, is as unknown as a made-up id."""
    return endpoints_for_host(host=host, livemode=livemode).filter(pk=endpoint_id).first()


def deliveries_for_endpoint(*, endpoint):
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").defer("event__data")


def delivery_for_endpoint(*, endpoint, delivery_id):
    return WebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery_id).select_related("event").first()
