"""Events the product announces, the hosts' webhook endpoints, and each event's delivery to each."""

import uuid

from django.db import models
from django.db.models import Q

EVENT_TYPES = (
    "license.provisioned",
    "license.updated",
    "license.suspended",
    "license.resumed",
    "license.terminated",
    "license.offline",
    "license.online",
    "billing.month_closed",
    "invoice.issued",
    "invoice.paid",
    "invoice.voided",
)
# Sent only by `POST …/ping`, to the one endpoint pinged; never listed among the host's events.
PING = "ping"


class Event(models.Model):
    """One change, recorded in the transaction that made it; its payload is fixed at that moment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey("hosts.Host", on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=64)
    livemode = models.BooleanField(default=True)
    data = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "events"
        indexes = [models.Index(fields=["host", "livemode", "-created_at", "-id"], name="events_host_newest_idx")]

    def __str__(self):
        return f"{self.public_id} {self.type}"

    @property
    def public_id(self):
        return f"evt_{self.id.hex}"

    def envelope(self):
        """The JSON a receiver gets and the events list shows."""
        return {
            "id": self.public_id,
            "type": self.type,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "livemode": self.livemode,
            "data": self.data,
        }


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey("hosts.Host", on_delete=models.PROTECT, related_name="webhook_endpoints")
    livemode = models.BooleanField(default=True)
    url = models.URLField(max_length=2000)
    # ["*"] or a list of event types.
    events = models.JSONField()
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    # Kept so it can sign (it is a shared key, not a password); never shown after creation or rotation.
    secret = models.CharField(max_length=100)
    # After a rotation the old secret signs too, alongside, until previous_valid_until.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_endpoints"
        indexes = [models.Index(fields=["host", "livemode", "enabled"], name="webhook_endpoints_host_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(previous_secret="") | Q(previous_valid_until__isnull=False),
                name="webhook_endpoints_previous_valid_until",
            ),
        ]

    def __str__(self):
        return self.url

    def subscribes_to(self, event_type):
        return event_type == PING or "*" in self.events or event_type in self.events


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One event to one endpoint: the truth about its attempts. The task engine's jobs only trigger
    attempts; a lease (`locked_until`) keeps two workers from sending at once, and a lease left by a
    dead worker simply expires."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # The start of the receiver's answer, for the host's debugging; never the whole body.
    response_excerpt = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_deliveries_once_per_endpoint"),
            models.CheckConstraint(
                condition=~Q(state=DeliveryState.PENDING) | Q(next_attempt_at__isnull=False),
                name="webhook_deliveries_pending_has_next_attempt",
            ),
            models.CheckConstraint(
                condition=~Q(state=DeliveryState.DELIVERED) | Q(delivered_at__isnull=False),
                name="webhook_deliveries_delivered_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_deliv_endpoint_idx"),
            # The minute's sweep reads only pending deliveries.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state=DeliveryState.PENDING),
                name="webhook_deliv_due_idx",
            ),
        ]

    def __str__(self):
        return f"{self.event_id} → {self.endpoint_id}"


class OutageNotice(models.Model):
    """A license whose going offline was announced: the `last_seen_at` it went quiet at.

    The detector's memory, so each outage is announced once however late or often it runs; deleted
    when `license.online` is announced. The license is named by id only: events sits below licensing.
    """

    host_license_id = models.UUIDField(primary_key=True)
    last_seen_at = models.DateTimeField()
    announced_at = models.DateTimeField()

    class Meta:
        db_table = "outage_notices"

    def __str__(self):
        return f"{self.host_license_id} quiet since {self.last_seen_at}"
