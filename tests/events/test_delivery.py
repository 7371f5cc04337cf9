"""One delivery attempt as the worker runs it, against a real HTTP receiver: signing, retries,
redirects, the address re-checked at delivery, failure after the maximum age."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.services import Actor
from events import services, signing
from events.models import WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(host, local_webhooks, receiver):
    return services.endpoint_create(
        host=host, url=receiver.url, events=["*"], livemode=True, actor=Actor.command("tests")
    )


def record(host, type="license.suspended"):
    event = services.event_record(host=host, type=type, data={"id": "lic", "status": "suspended"})
    return WebhookDelivery.objects.get(event=event)


def test_a_delivery_is_the_signed_event_json(host, endpoint, receiver):
    delivery = record(host)
    assert services.delivery_attempt(delivery_id=delivery.pk) == "delivered"
    request = receiver.requests[0]
    body = request["body"]
    event = receiver.events()[0]
    assert event["id"] == delivery.event.public_id == request["headers"]["Corrosion-Event-Id"]
    assert event["type"] == "license.suspended" and event["data"] == {"id": "lic", "status": "suspended"}
    assert request["headers"]["Content-Type"] == "application/json"
    header = request["headers"]["Corrosion-Signature"]
    assert signing.verify(endpoint.secret, header, body, now=int(time.time()))
    assert not signing.verify(endpoint.secret, header, body + b" ", now=int(time.time()))
    assert not signing.verify("whsec_other", header, body, now=int(time.time()))
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_status_code == 200 and delivery.delivered_at
    assert len(delivery.response_excerpt) <= 500  # the receiver answered 3,000 bytes


def test_a_receiver_answering_500_twice_gets_it_on_the_third_attempt(host, endpoint, receiver):
    receiver.statuses = [500, 500, 200]
    delivery = record(host)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        assert services.delivery_attempt(delivery_id=delivery.pk) == "pending"
        delivery.refresh_from_db()
        assert delivery.last_status_code == 500
        assert timedelta(seconds=59) < delivery.next_attempt_at - delivery.last_attempt_at <= timedelta(seconds=65)
        assert services.delivery_attempt(delivery_id=delivery.pk) is None  # not due yet: nothing sent
        clock.shift(timedelta(minutes=1, seconds=1))
        assert services.delivery_attempt(delivery_id=delivery.pk) == "pending"
        delivery.refresh_from_db()
        assert (
            timedelta(minutes=4)
            < delivery.next_attempt_at - delivery.last_attempt_at
            <= timedelta(minutes=5, seconds=5)
        )
        clock.shift(timedelta(minutes=5, seconds=1))
        assert services.delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert len(receiver.requests) == 3
    assert len({e["id"] for e in receiver.events()}) == 1


def test_redirects_are_not_followed(host, endpoint, receiver):
    receiver.statuses = [302]
    delivery = record(host)
    assert services.delivery_attempt(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302 and len(receiver.requests) == 1


def test_after_the_maximum_age_the_delivery_fails(host, endpoint, receiver, settings):
    receiver.statuses = [503]
    delivery = record(host)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        for _ in range(30):
            state = services.delivery_attempt(delivery_id=delivery.pk)
            if state == "failed":
                break
            clock.shift(timedelta(hours=12, seconds=1))
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.next_attempt_at is None
    # Retries at about 1 min, 5 min, 30 min, 2 h, 6 h, then every 12 h up to 72 h: 9 attempts.
    assert 6 <= delivery.attempts <= 10


def test_an_unreachable_receiver_is_retried(host, endpoint, receiver):
    receiver.server.server_close()
    receiver.server.shutdown()
    delivery = record(host)
    assert services.delivery_attempt(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and delivery.last_error


def test_a_slow_receiver_times_out(host, endpoint, receiver, settings):
    import threading

    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.hold = threading.Event()
    delivery = record(host)
    started = time.monotonic()
    assert services.delivery_attempt(delivery_id=delivery.pk) == "pending"
    assert time.monotonic() - started < 5
    delivery.refresh_from_db()
    assert delivery.last_error == "Timed out."


def test_the_address_is_checked_again_at_delivery(host, endpoint, receiver, settings):
    delivery = record(host)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False  # as if the name now resolved inside
    assert services.delivery_attempt(delivery_id=delivery.pk) == "pending"
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert "private" in delivery.last_error


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_one_delivery_at_once(host, endpoint, receiver):
    import threading

    receiver.hold = threading.Event()
    delivery = record(host)
    worker = threading.Thread(target=services.delivery_attempt, kwargs={"delivery_id": delivery.pk})
    worker.start()
    receiver.wait_for(1)
    # The first holds the lease while its request is in flight: the second sends nothing.
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    receiver.hold.set()
    worker.join(10)
    from django.db import connections

    connections.close_all()
    assert len(receiver.requests) == 1


def test_after_a_rotation_both_secrets_sign_for_a_day(host, endpoint, receiver):
    old = endpoint.secret
    endpoint = services.endpoint_rotate_secret(endpoint=endpoint, actor=Actor.command("tests"))
    services.delivery_attempt(delivery_id=record(host).pk)
    request = receiver.requests[-1]
    header, now = request["headers"]["Corrosion-Signature"], int(time.time())
    assert header.count("v1=") == 2
    assert signing.verify(old, header, request["body"], now=now)
    assert signing.verify(endpoint.secret, header, request["body"], now=now)
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        services.delivery_attempt(delivery_id=record(host).pk)
    assert receiver.requests[-1]["headers"]["Corrosion-Signature"].count("v1=") == 1


def test_a_manual_retry_sends_a_failed_delivery_again(host, endpoint, receiver, host_client):
    receiver.statuses = [500, 200]
    delivery = record(host)
    services.delivery_attempt(delivery_id=delivery.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed", next_attempt_at=None)
    path = f"/api/host/webhook-endpoints/{endpoint.pk}/deliveries/{delivery.pk}/retry"
    assert host_client.post(path).status_code == 202
    assert services.delivery_attempt(delivery_id=delivery.pk) == "delivered"


def test_test_mode_events_go_only_to_test_mode_endpoints(host, endpoint, receiver):
    test_endpoint = services.endpoint_create(
        host=host, url=receiver.url, events=["*"], livemode=False, actor=Actor.command("tests")
    )
    event = services.event_record(host=host, type="license.suspended", data={}, livemode=False)
    assert [d.endpoint_id for d in WebhookDelivery.objects.filter(event=event)] == [test_endpoint.pk]


def test_the_readme_verification_example_accepts_a_real_delivery(host, endpoint, receiver):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify" in block)
    namespace = {}
    exec(code, namespace)
    services.delivery_attempt(delivery_id=record(host).pk)
    request = receiver.requests[0]
    header = request["headers"]["Corrosion-Signature"]
    assert namespace["verify"](endpoint.secret, header, request["body"])
    assert not namespace["verify"](endpoint.secret, header, request["body"] + b"x")
