"""The demo's in-process worker (SQLite has no task engine): the same jobs, from a poll."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.services import Actor
from events import services, worker
from events.models import Event, WebhookDelivery
from licensing.models import HostLicense

pytestmark = pytest.mark.django_db


class OneRound(threading.Event):
    """Stops the loop after one round."""

    def wait(self, timeout=None):
        self.set()
        return True


def test_one_round_delivers_what_is_due_and_runs_the_periodic_jobs(host, host_client, local_webhooks, receiver):
    services.endpoint_create(host=host, url=receiver.url, events=["*"], livemode=True, actor=Actor.command("t"))
    item = {"server_id": "srv-1", "hostname": "play.acme.test", "customer_email": "eve@example.com"}
    license_id = host_client.post("/api/host/provision", item, format="json").json()["id"]
    HostLicense.objects.filter(license_id=license_id).update(last_seen_at=timezone.now() - timedelta(hours=1))
    worker.run_in_process(stop=OneRound())
    assert Event.objects.filter(type="license.offline").count() == 1
    types = {event["type"] for event in receiver.events()}
    assert "license.provisioned" in types
    assert WebhookDelivery.objects.filter(event__type="license.provisioned", state="delivered").count() == 1
