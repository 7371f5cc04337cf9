"""license.offline once per outage and license.online when it ends, however late or often the scan runs."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from events.models import Event
from licensing.models import HostLicense
from licensing.offline import outages_announce

pytestmark = pytest.mark.django_db

ITEM = {"server_id": "srv-1", "hostname": "play.acme.test", "customer_email": "eve@example.com"}


@pytest.fixture
def license_id(host_client):
    return host_client.post("/api/host/provision", ITEM, format="json").json()["id"]


def seen(license_id, moment):
    HostLicense.objects.filter(license_id=license_id).update(last_seen_at=moment)


def announced():
    return list(
        Event.objects.filter(type__in=["license.offline", "license.online"])
        .order_by("created_at", "type")
        .values_list("type", flat=True)
    )


def test_one_offline_per_outage_however_often_the_scan_runs(license_id):
    seen(license_id, timezone.now() - timedelta(minutes=11))
    assert outages_announce() == (1, 0)
    assert outages_announce() == (0, 0)
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        assert outages_announce() == (0, 0)
    assert announced() == ["license.offline"]
    event = Event.objects.get(type="license.offline")
    assert event.data["id"] == license_id and event.data["online"] is False


def test_an_outage_long_ago_is_still_announced_once(license_id):
    seen(license_id, timezone.now() - timedelta(days=90))
    outages_announce()
    outages_announce()
    assert announced() == ["license.offline"]


def test_the_next_heartbeat_leads_to_online_then_a_new_outage_to_offline(license_id):
    seen(license_id, timezone.now() - timedelta(minutes=30))
    outages_announce()
    seen(license_id, timezone.now())
    assert outages_announce() == (0, 1)
    assert outages_announce() == (0, 0)
    online = Event.objects.get(type="license.online")
    assert online.data["online"] is True
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        assert outages_announce() == (1, 0)
    assert announced() == ["license.offline", "license.online", "license.offline"]


def test_a_return_and_a_new_outage_between_two_scans_are_both_announced(license_id):
    seen(license_id, timezone.now() - timedelta(hours=2))
    outages_announce()
    seen(license_id, timezone.now() - timedelta(minutes=30))  # back, then quiet again, unseen by any scan
    assert outages_announce() == (1, 1)
    types = list(
        Event.objects.filter(type__startswith="license.o").order_by("created_at").values_list("type", flat=True)
    )
    assert sorted(types) == ["license.offline", "license.offline", "license.online"]


def test_never_heard_from_and_terminated_licenses_never_go_offline(license_id, host_client):
    assert outages_announce() == (0, 0)  # never seen: never online
    seen(license_id, timezone.now() - timedelta(hours=1))
    assert host_client.post(f"/api/host/licenses/{license_id}/terminate").status_code == 200
    assert outages_announce() == (0, 0)


def test_a_license_online_now_is_not_announced(license_id):
    seen(license_id, timezone.now() - timedelta(minutes=5))
    assert outages_announce() == (0, 0)


def test_the_heartbeat_path_is_unchanged(license_id, host_client, django_assert_max_num_queries):
    key = host_client.get(f"/api/host/licenses/{license_id}").json()["license_key"]
    from rest_framework.test import APIClient

    with django_assert_max_num_queries(1):
        response = APIClient().post("/api/plugin/heartbeat", {"license_key": key}, format="json")
    assert response.status_code == 200, response.content
