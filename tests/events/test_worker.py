"""End to end on PostgreSQL: real worker processes (`manage.py worker`, procrastinate) deliver to a
real HTTP receiver. Each change is made through the public surface and committed for real."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from audit.services import Actor
from billing.models import Invoice
from billing.services import invoice_mark_paid, invoice_void, month_close
from events import services, signing
from events.models import WebhookDelivery
from licensing.models import HostLicense
from licensing.offline import outages_announce
from tests.events.conftest import Receiver
from tests.factories import HostLicenseFactory
from tests.faults.support import REPO, stop_process, subprocess_env

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ITEM = {"server_id": "srv-1", "hostname": "play.acme.test", "customer_email": "eve@example.com"}


class Worker:
    def __init__(self, **env):
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--concurrency", "4"],
            cwd=REPO,
            env=subprocess_env(
                WEBHOOK_ALLOW_HTTP=1, WEBHOOK_ALLOW_PRIVATE_NETWORKS=1, WEBHOOK_TIMEOUT_SECONDS=2, **env
            ),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-5000:]

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        stop_process(self.process, group=True)
        self.log.close()


@contextmanager
def worker(**env):
    running = Worker(**env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _close_connections():
    yield
    connections.close_all()


@pytest.fixture
def live_receiver():
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    if receiver.hold is not None:
        receiver.hold.set()
    receiver.server.shutdown()
    receiver.server.server_close()


def endpoint_for(client, url, events=("*",)):
    response = client.post("/api/host/webhook-endpoints", {"url": url, "events": list(events)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def at_start_of(month):
    return datetime(month.year, month.month, 2, 12, tzinfo=UTC)


def test_every_event_type_reaches_a_real_receiver_through_a_real_worker(
    host, host_client, local_webhooks, live_receiver
):
    endpoint = endpoint_for(host_client, live_receiver.url)
    with worker() as running:
        started = time.monotonic()
        license = host_client.post("/api/host/provision", ITEM, format="json").json()
        live_receiver.wait_for(1, timeout=30)
        # The first attempt within 10 seconds of the commit (the worker's start included).
        assert time.monotonic() - started < 10, running.output()
        lid = license["id"]
        host_client.patch(f"/api/host/licenses/{lid}", {"hostname": "new.acme.test"}, format="json")
        for action in ("suspend", "resume"):
            host_client.post(f"/api/host/licenses/{lid}/{action}")
        # Heard from, then quiet past the window: offline; heard from again: online.
        quiet = timezone.now() - timedelta(hours=3)
        HostLicense.objects.filter(license_id=lid).update(last_seen_at=quiet)
        outages_announce()
        HostLicense.objects.filter(license_id=lid).update(last_seen_at=timezone.now())
        outages_announce()
        host_client.post(f"/api/host/licenses/{lid}/terminate")
        # Last month: closable once its grace period is over (the first days of a month: the one before).
        # A server held since the month before it gets an invoice for each month: one is paid,
        # the other voided.
        today = timezone.now().date()
        month = (today.replace(day=1) - timedelta(days=1 if today.day > 4 else 32)).replace(day=1)
        before = (month - timedelta(days=1)).replace(day=1)
        HostLicenseFactory(host=host, server_identifier="rust-held", provisioned_at=at_start_of(before))
        for closing in (before, month):
            month_close(month=closing, actor=Actor.command("tests"))
        paid, voided = Invoice.objects.filter(host=host).order_by("billing_month")
        invoice_mark_paid(invoice=paid, paid_at=today, payment_reference="WIRE-1", actor=Actor.command("tests"))
        invoice_void(invoice=voided, reason="issued in error", actor=Actor.command("tests"))
        # A change that rolls back sends nothing.
        with pytest.raises(RuntimeError), transaction.atomic():
            services.event_record(host=host, type="license.suspended", data={})
            raise RuntimeError
        host_client.post(f"/api/host/webhook-endpoints/{endpoint['id']}/ping")
        expected = Counter(
            {
                "license.provisioned": 1,
                "license.updated": 1,
                "license.suspended": 1,
                "license.resumed": 1,
                "license.offline": 1,
                "license.online": 1,
                "license.terminated": 1,
                "billing.month_closed": 2,
                "invoice.issued": 2,
                "invoice.paid": 1,
                "invoice.voided": 1,
                "ping": 1,
            }
        )
        try:
            live_receiver.wait_for(expected.total(), timeout=60)
        except AssertionError:
            raise AssertionError([e["type"] for e in live_receiver.events()]) from None
        time.sleep(2)
    types = [event["type"] for event in live_receiver.events()]
    assert Counter(types) == expected, types  # the rolled-back event never left
    issued = [e["data"] for e in live_receiver.events() if e["type"] == "invoice.issued"]
    assert all(data["path"] == f"/api/host/invoices/{data['number']}" and "lines" not in data for data in issued)
    now = int(time.time())
    for request in live_receiver.requests:
        assert signing.verify(endpoint["secret"], request["headers"]["Corrosion-Signature"], request["body"], now=now)
    month = next(e for e in live_receiver.events() if e["type"] == "billing.month_closed")["data"]
    assert month["path"] == f"/api/host/billing/{month['month']}" and "lines" not in month
    assert WebhookDelivery.objects.filter(state="delivered").count() == expected.total()


def test_a_delivery_cut_by_a_killed_worker_arrives_from_another(host, host_client, local_webhooks, live_receiver):
    endpoint_for(host_client, live_receiver.url)
    live_receiver.hold = threading.Event()
    first = Worker()
    try:
        host_client.post("/api/host/provision", ITEM, format="json")
        live_receiver.wait_for(1, timeout=30)
        first.kill()  # SIGKILL mid-delivery: the request is in flight, its answer never read
    finally:
        first.stop()
    live_receiver.hold.set()
    started = time.monotonic()
    with worker() as second:
        live_receiver.wait_for(2, timeout=150)
        # Within 2 minutes of the cut.
        assert time.monotonic() - started < 120, second.output()
        deadline = time.monotonic() + 10
        while WebhookDelivery.objects.get().state != "delivered" and time.monotonic() < deadline:
            time.sleep(0.2)
    ids = [event["id"] for event in live_receiver.events()]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert WebhookDelivery.objects.get().state == "delivered"


def test_a_slow_endpoint_does_not_delay_another_hosts(
    host, host_client, other_host_client, local_webhooks, live_receiver
):
    fast = Receiver()
    fast.thread.start()
    try:
        live_receiver.hold = threading.Event()
        endpoint_for(host_client, live_receiver.url)
        endpoint_for(other_host_client, fast.url)
        with worker():
            for n in range(3):
                host_client.post("/api/host/provision", {**ITEM, "server_id": f"slow-{n}"}, format="json")
            live_receiver.wait_for(1, timeout=30)
            started = time.monotonic()
            other_host_client.post("/api/host/provision", ITEM, format="json")
            fast.wait_for(1, timeout=10)
            assert time.monotonic() - started < 5
            live_receiver.hold.set()
    finally:
        fast.server.shutdown()
        fast.server.server_close()


def _fast_forward_retries():
    """As if the retry delay had passed: the delivery and its scheduled job are due now."""
    with connections["default"].cursor() as cursor:
        cursor.execute("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE state = 'pending'")
        cursor.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now() WHERE task_name = 'events.deliver' AND status = 'todo'"
        )


def _wait_for_retry_scheduled(attempts, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery = WebhookDelivery.objects.get()
        if delivery.attempts == attempts and delivery.locked_until is None:
            return delivery
        time.sleep(0.1)
    raise AssertionError(f"attempt {attempts} was not recorded")


def test_a_receiver_answering_500_twice_gets_it_on_the_third_attempt(host, host_client, local_webhooks, live_receiver):
    live_receiver.statuses = [500, 500, 200]
    endpoint_for(host_client, live_receiver.url)
    with worker() as running:
        host_client.post("/api/host/provision", ITEM, format="json")
        live_receiver.wait_for(1, timeout=30)
        delivery = _wait_for_retry_scheduled(1)
        assert delivery.state == "pending" and delivery.last_status_code == 500
        assert timedelta(seconds=55) < delivery.next_attempt_at - delivery.last_attempt_at < timedelta(seconds=70)
        _fast_forward_retries()
        live_receiver.wait_for(2, timeout=30)
        delivery = _wait_for_retry_scheduled(2)
        assert timedelta(minutes=4) < delivery.next_attempt_at - delivery.last_attempt_at < timedelta(minutes=6)
        _fast_forward_retries()
        live_receiver.wait_for(3, timeout=30)
        deadline = time.monotonic() + 10
        while WebhookDelivery.objects.get().state != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert WebhookDelivery.objects.get().state == "delivered", running.output()
    assert len({event["id"] for event in live_receiver.events()}) == 1
    assert WebhookDelivery.objects.get().attempts == 3
