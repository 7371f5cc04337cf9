"""Invariants of events and deliveries (see corrosion/integrity.py)."""

from django.db.models import F

from corrosion.integrity import Check
from events.models import WebhookDelivery


def _deliveries_across_hosts_or_modes():
    rows = WebhookDelivery.objects.exclude(
        event__host_id=F("endpoint__host_id"), event__livemode=F("endpoint__livemode")
    )
    for delivery_id in rows.values_list("id", flat=True).iterator():
        yield f"delivery {delivery_id} sends an event to another host's or another mode's endpoint"


CHECKS = [
    Check(
        "events.delivery_scope",
        "an event is delivered only to its own host's endpoints, in its own mode",
        _deliveries_across_hosts_or_modes,
    ),
]
