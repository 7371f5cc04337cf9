"""Every change to events, endpoints and deliveries; also the worker's attempt at one delivery."""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import audit_record
from corrosion.errors import DomainError, ErrorCode
from events import addresses, sender, signing
from events.models import PING, DeliveryState, Event, WebhookDelivery, WebhookEndpoint
from hosts.models import Host

logger = logging.getLogger(__name__)

# After the n-th failed attempt the next one waits RETRY_DELAYS[n-1], then every 12 hours, until
# WEBHOOK_MAX_AGE_HOURS after the event.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
LATER_RETRY_DELAY = timedelta(hours=12)
ROTATION_OVERLAP = timedelta(hours=24)
# How long a worker holds a delivery it is sending: past the timeout, with room for DNS and the
# database. A worker killed mid-delivery leaves the lease to expire; the minute's sweep then sends
# it again, so a cut delivery is retried within about 1.5 minutes.
LEASE_MARGIN = timedelta(seconds=20)


def _defer(delivery_ids, *, queueing_lock=True, at=None):
    """Trigger an attempt of each delivery through the task engine, in the caller's transaction.

    On PostgreSQL the job row is written through Django's own connection, so it commits or rolls
    back with the change: no change without its job, no job without its change. SQLite (the demo)
    has no engine: its worker polls the deliveries table instead (events/worker.py).
    """
    if connection.vendor != "postgresql" or not delivery_ids:
        return
    from procrastinate.exceptions import AlreadyEnqueued

    from events.tasks import deliver

    for delivery_id in delivery_ids:
        try:
            # The savepoint: a duplicate job (its queueing lock taken) must not abort the caller's transaction.
            with transaction.atomic():
                options = {"queueing_lock": f"delivery:{delivery_id}"} if queueing_lock else {}
                if at is not None:
                    options["schedule_at"] = at
                deliver.configure(**options).defer(delivery_id=str(delivery_id))
        except AlreadyEnqueued:
            pass  # an attempt is already waiting in the queue


def event_record(*, host, type, data, livemode=True, endpoints=None):
    """Record an event and its deliveries; call it inside the transaction that makes the change.

    `host` is a Host or its id; `data` is the payload as the API shows the object (events knows
    nothing of licenses or bills).
    """
    return events_record(type=type, items=[(host, data)], livemode=livemode, endpoints=endpoints)[0]


def events_record(*, type, items, livemode=True, endpoints=None):
    """Events of one type, one per (host or host id, data) item (a bulk provisioning, a month's
    close): a fixed number of queries however many, in the caller's transaction."""
    now = timezone.now()
    events = Event.objects.bulk_create(
        [
            Event(host_id=getattr(host, "pk", host), type=type, livemode=livemode, data=data, created_at=now)
            for host, data in items
        ]
    )
    if endpoints is None:
        endpoints = WebhookEndpoint.objects.filter(
            host_id__in={event.host_id for event in events}, livemode=livemode, enabled=True
        ).only("id", "host_id", "events")
    by_host = {}
    for endpoint in endpoints:
        if endpoint.subscribes_to(type):
            by_host.setdefault(endpoint.host_id, []).append(endpoint)
    deliveries = [
        WebhookDelivery(endpoint=endpoint, event=event, created_at=now, next_attempt_at=now)
        for event in events
        for endpoint in by_host.get(event.host_id, ())
    ]
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)
        _defer([d.pk for d in deliveries])
    if type == INVOICE_ISSUED:
        for event in events:
            _defer_email(event.pk)
    return events


INVOICE_ISSUED = "invoice.issued"


def _defer_email(event_id):
    """The invoice e-mail, a job committed with the event (PostgreSQL); the demo (SQLite) sends it
    once the change commits, in the request."""
    if connection.vendor == "postgresql":
        from events.tasks import email_invoice

        email_invoice.defer(event_id=str(event_id))
    else:
        from events.mail import invoice_email_send

        transaction.on_commit(lambda: invoice_email_send(event_id=event_id))


# --- Endpoints ---------------------------------------------------------------------------------


def _valid_url(url):
    try:
        addresses.resolve(url)
    except addresses.AddressRefused as exc:
        raise DomainError(ErrorCode.INVALID, str(exc), fields={"url": [str(exc)]}) from None


@transaction.atomic
def endpoint_create(*, host, url, events, livemode, actor, description=""):
    """A new endpoint and its secret (returned on the endpoint, shown this once)."""
    _valid_url(url)
    # The host's row lock: two creations at once cannot both pass the limit.
    Host.objects.select_for_update().filter(pk=host.pk).values_list("pk", flat=True).get()
    limit = settings.WEBHOOK_ENDPOINTS_PER_HOST
    if WebhookEndpoint.objects.filter(host=host, enabled=True).count() >= limit:
        raise DomainError(
            ErrorCode.WEBHOOK_ENDPOINT_LIMIT, f"At most {limit} enabled webhook endpoints; disable one first."
        )
    endpoint = WebhookEndpoint.objects.create(
        host=host,
        livemode=livemode,
        url=url,
        events=events,
        description=description,
        secret=signing.generate_secret(),
    )
    audit_record(actor=actor, action="webhook_endpoint.created", target=endpoint, data={"url": url, "events": events})
    return endpoint


def _locked_endpoint(endpoint):
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)


@transaction.atomic
def endpoint_update(*, endpoint, actor, **changes):
    """Change `url`, `events`, `description` or `enabled`."""
    endpoint = _locked_endpoint(endpoint)
    if "url" in changes and changes["url"] != endpoint.url:
        _valid_url(changes["url"])
    if changes.get("enabled") and not endpoint.enabled:
        Host.objects.select_for_update().filter(pk=endpoint.host_id).values_list("pk", flat=True).get()
        limit = settings.WEBHOOK_ENDPOINTS_PER_HOST
        if WebhookEndpoint.objects.filter(host_id=endpoint.host_id, enabled=True).count() >= limit:
            raise DomainError(
                ErrorCode.WEBHOOK_ENDPOINT_LIMIT, f"At most {limit} enabled webhook endpoints; disable one first."
            )
    changed = {name: value for name, value in changes.items() if getattr(endpoint, name) != value}
    if not changed:
        return endpoint
    for name, value in changed.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=[*changed, "updated_at"])
    audit_record(actor=actor, action="webhook_endpoint.updated", target=endpoint, data=changed)
    return endpoint


def endpoint_disable(*, endpoint, actor):
    """Stops its deliveries; its history stays."""
    return endpoint_update(endpoint=endpoint, actor=actor, enabled=False)


@transaction.atomic
def endpoint_rotate_secret(*, endpoint, actor):
    """A new secret; the old one keeps signing, alongside, for 24 hours."""
    endpoint = _locked_endpoint(endpoint)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_valid_until = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = signing.generate_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_valid_until", "updated_at"])
    audit_record(actor=actor, action="webhook_endpoint.secret_rotated", target=endpoint)
    return endpoint


@transaction.atomic
def endpoint_ping(*, endpoint):
    """A `ping` event to this endpoint only, sent now."""
    event = event_record(
        host=endpoint.host,
        type=PING,
        data={"endpoint_id": str(endpoint.pk)},
        livemode=endpoint.livemode,
        endpoints=[endpoint],
    )
    return WebhookDelivery.objects.get(event=event, endpoint=endpoint)


@transaction.atomic
def delivery_retry(*, delivery, actor):
    """Send again now, whatever its state (a delivered one too: receivers de-duplicate by event id)."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.PENDING, next_attempt_at=now)
    audit_record(actor=actor, action="webhook_delivery.retried", target=delivery)
    # No queueing lock: a retry scheduled for later must not keep this one from running now.
    _defer([delivery.pk], queueing_lock=False)
    delivery.refresh_from_db()
    return delivery


# --- The worker's side -------------------------------------------------------------------------


def deliveries_due(*, now=None):
    """Pending deliveries whose time has come and that no live worker holds."""
    now = now or timezone.now()
    return WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def deliveries_requeue():
    """Trigger every due delivery not already queued: retries whose time came, and deliveries a
    dead worker cut. Returns how many were found."""
    ids = list(deliveries_due().order_by("created_at", "id").values_list("pk", flat=True)[:10000])
    with transaction.atomic():
        _defer(ids)
    return len(ids)


def _claim(delivery_id, now):
    """Take the delivery's lease; one UPDATE, so two workers never both win. Autocommit: the lease
    must be visible to others before the (slow) HTTP request starts."""
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS) + LEASE_MARGIN
    claimed = (
        deliveries_due(now=now)
        .filter(pk=delivery_id)
        .update(locked_until=now + lease, attempts=F("attempts") + 1, last_attempt_at=now)
    )
    return claimed == 1


def _next_attempt(delivery, now):
    """When to try again after a failure, or None when the event is too old to keep trying."""
    index = delivery.attempts - 1
    delay = RETRY_DELAYS[index] if index < len(RETRY_DELAYS) else LATER_RETRY_DELAY
    at = now + delay
    if at > delivery.event.created_at + timedelta(hours=settings.WEBHOOK_MAX_AGE_HOURS):
        return None
    return at


def delivery_attempt(*, delivery_id):
    """One attempt at one delivery, as the worker runs it; returns its state afterwards (None when
    another worker holds it or it is not due). Safe to run twice at once or again: only the worker
    holding the lease sends, and no transaction stays open during the request."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.enabled:
        return _finish(delivery, sender.Outcome(None, "", "The endpoint is disabled."), give_up=True)
    try:
        target = addresses.resolve(endpoint.url)
    except addresses.AddressRefused as exc:
        return _finish(delivery, sender.Outcome(None, "", str(exc)[:300]))
    body = json.dumps(event.envelope(), separators=(",", ":")).encode()
    secrets_ = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_valid_until > now:
        secrets_.append(endpoint.previous_secret)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Corrosion-Webhooks/1",
        "Corrosion-Event-Id": event.public_id,
        "Corrosion-Signature": signing.signature_header(secrets_, int(timezone.now().timestamp()), body),
    }
    outcome = sender.post(target, body, headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    return _finish(delivery, outcome)


def _finish(delivery, outcome, *, give_up=False):
    now = timezone.now()
    fields = {
        "locked_until": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "response_excerpt": outcome.excerpt,
    }
    if outcome.delivered:
        fields.update(state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=None)
    else:
        at = None if give_up else _next_attempt(delivery, now)
        if at is None:
            fields.update(state=DeliveryState.FAILED, next_attempt_at=None)
        else:
            fields.update(next_attempt_at=at)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if fields.get("next_attempt_at"):
            _defer([delivery.pk], at=fields["next_attempt_at"])
    logger.info(
        "webhook delivery attempt",
        extra={
            "delivery_id": str(delivery.pk),
            "event_id": delivery.event.public_id,
            "attempt": delivery.attempts,
            "status_code": outcome.status_code,
            "state": fields.get("state", DeliveryState.PENDING),
        },
    )
    return fields.get("state", DeliveryState.PENDING)
