"""The host API for events and webhook endpoints, and events recorded with their changes."""

import pytest
from django.db import transaction

from audit.services import Actor
from events.models import Event, WebhookDelivery, WebhookEndpoint
from hosts.services import api_key_issue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_dns")]

ITEM = {"server_id": "srv-1", "hostname": "play.acme.test", "customer_email": "eve@example.com"}


def provision(client, item=ITEM):
    response = client.post("/api/host/provision", item, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def create_endpoint(client, url="https://example.com/hooks", events=("*",), **extra):
    return client.post("/api/host/webhook-endpoints", {"url": url, "events": list(events), **extra}, format="json")


def events_of(client, **params):
    response = client.get("/api/host/events", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- Events recorded with their changes ------------------------------------------------------------


def test_each_license_change_records_its_event_with_the_license_as_the_api_shows_it(host_client):
    license = provision(host_client)
    for action in ("suspend", "resume", "terminate"):
        assert host_client.post(f"/api/host/licenses/{license['id']}/{action}").status_code == 200
    types = [event["type"] for event in events_of(host_client)]
    assert types == ["license.terminated", "license.resumed", "license.suspended", "license.provisioned"]
    shown = host_client.get(f"/api/host/licenses/{license['id']}").json()
    newest = events_of(host_client)[0]
    assert newest["data"] == shown
    assert newest["id"].startswith("evt_") and newest["livemode"] is True


def test_an_edit_records_license_updated_and_a_repeat_records_nothing(host_client):
    license = provision(host_client)
    host_client.patch(f"/api/host/licenses/{license['id']}", {"hostname": "new.acme.test"}, format="json")
    host_client.patch(f"/api/host/licenses/{license['id']}", {"hostname": "new.acme.test"}, format="json")
    host_client.post(f"/api/host/licenses/{license['id']}/suspend")
    host_client.post(f"/api/host/licenses/{license['id']}/suspend")
    types = [event["type"] for event in events_of(host_client)]
    assert types == ["license.suspended", "license.updated", "license.provisioned"]
    assert events_of(host_client, type="license.updated")[0]["data"]["hostname"] == "new.acme.test"


def test_a_retried_provision_records_no_second_event(host_client):
    provision(host_client)
    provision(host_client)
    assert len(events_of(host_client, type="license.provisioned")) == 1


def test_a_change_that_rolls_back_leaves_no_event_and_no_delivery(host, host_client):
    create_endpoint(host_client)
    from licensing.services import ProvisionItem, license_provision

    with pytest.raises(RuntimeError), transaction.atomic():
        license_provision(host=host, items=[ProvisionItem(**ITEM)], actor=Actor.command("t"))
        raise RuntimeError("the change fails after its event was written")
    assert not Event.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_a_host_sees_only_its_own_events(host_client, other_host_client):
    provision(host_client)
    assert events_of(other_host_client) == []


def test_a_test_key_sees_test_events_only(host, host_client, command_actor):
    provision(host_client)
    test_key = api_key_issue(host=host, actor=command_actor, name="test")
    from hosts.models import HostAPIKey

    HostAPIKey.objects.filter(pk=test_key.api_key.pk).update(livemode=False)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {test_key.raw_key}")
    assert events_of(client) == []


def test_events_list_pages_filters_and_refuses_unknown_parameters(host_client, django_assert_max_num_queries):
    for n in range(5):
        provision(host_client, {**ITEM, "server_id": f"srv-{n}"})
    with django_assert_max_num_queries(6):
        page = host_client.get("/api/host/events", {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    second = host_client.get(page["next"]).json()
    assert {e["id"] for e in second["results"]}.isdisjoint({e["id"] for e in page["results"]})
    assert host_client.get("/api/host/events", {"type": "nope"}).status_code == 400
    assert host_client.get("/api/host/events", {"tpye": "license.updated"}).status_code == 400


# --- Endpoints ---------------------------------------------------------------------------------------


def test_an_endpoint_is_created_with_its_secret_shown_once(host_client, local_webhooks, receiver):
    response = create_endpoint(host_client, receiver.url, events=["license.provisioned"], description="ops")
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["license.provisioned"] and body["enabled"] is True
    assert response["Cache-Control"] == "no-store" or "no-store" in response["Cache-Control"]
    shown = host_client.get(f"/api/host/webhook-endpoints/{body['id']}").json()
    assert "secret" not in shown
    listed = host_client.get("/api/host/webhook-endpoints").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("http://example.com/hooks", ["*"]),  # https only
        ("https://127.0.0.1/hooks", ["*"]),  # loopback
        ("https://10.1.2.3/hooks", ["*"]),  # private
        ("https://169.254.169.254/latest", ["*"]),  # link-local: cloud metadata
        ("https://[::1]/hooks", ["*"]),
        ("https://224.0.0.1/hooks", ["*"]),  # multicast
        ("https://localhost/hooks", ["*"]),
        ("https://example.com/hooks", ["license.exploded"]),
        ("https://example.com/hooks", []),
        ("not a url", ["*"]),
    ],
)
def test_unsafe_urls_and_unknown_events_are_refused(host_client, url, events):
    response = create_endpoint(host_client, url, events=events)
    assert response.status_code == 400, response.content
    assert not WebhookEndpoint.objects.exists()


def test_at_most_the_limit_of_enabled_endpoints(host_client, settings):
    settings.WEBHOOK_ENDPOINTS_PER_HOST = 2
    ids = [create_endpoint(host_client).json()["id"] for _ in range(2)]
    refused = create_endpoint(host_client)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "webhook_endpoint_limit"
    assert host_client.delete(f"/api/host/webhook-endpoints/{ids[0]}").status_code == 204
    assert create_endpoint(host_client).status_code == 201
    again = host_client.patch(f"/api/host/webhook-endpoints/{ids[0]}", {"enabled": True}, format="json")
    assert again.status_code == 409


def test_patch_changes_and_checks_fields(host_client):
    endpoint = create_endpoint(host_client).json()
    path = f"/api/host/webhook-endpoints/{endpoint['id']}"
    changed = host_client.patch(
        path, {"events": ["license.offline", "license.online"], "description": "x"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["license.offline", "license.online"]
    assert host_client.patch(path, {"url": "https://127.0.0.1/x"}, format="json").status_code == 400
    assert host_client.patch(path, {"secret": "whsec_mine"}, format="json").status_code == 400
    assert host_client.patch(path, {}, format="json").status_code == 400


def test_a_disabled_endpoint_gets_no_deliveries_and_keeps_its_history(host_client):
    endpoint = create_endpoint(host_client).json()
    provision(host_client)
    host_client.delete(f"/api/host/webhook-endpoints/{endpoint['id']}")
    provision(host_client, {**ITEM, "server_id": "srv-2"})
    deliveries = host_client.get(f"/api/host/webhook-endpoints/{endpoint['id']}/deliveries").json()["results"]
    assert [d["event_type"] for d in deliveries] == ["license.provisioned"]
    assert host_client.get(f"/api/host/webhook-endpoints/{endpoint['id']}").json()["enabled"] is False


def test_an_endpoint_gets_only_the_events_it_asked_for(host_client):
    endpoint = create_endpoint(host_client, events=["license.suspended"]).json()
    license = provision(host_client)
    host_client.post(f"/api/host/licenses/{license['id']}/suspend")
    deliveries = host_client.get(f"/api/host/webhook-endpoints/{endpoint['id']}/deliveries").json()["results"]
    assert [d["event_type"] for d in deliveries] == ["license.suspended"]
    assert deliveries[0]["state"] == "pending" and deliveries[0]["attempts"] == 0


def test_rotation_answers_a_new_secret_and_keeps_the_old_one_for_a_day(host_client):
    endpoint = create_endpoint(host_client).json()
    rotated = host_client.post(f"/api/host/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != endpoint["secret"]
    row = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert row.previous_secret == endpoint["secret"] and row.previous_valid_until is not None


def test_ping_and_retry_answer_202_with_the_delivery(host_client):
    endpoint = create_endpoint(host_client).json()
    ping = host_client.post(f"/api/host/webhook-endpoints/{endpoint['id']}/ping")
    assert ping.status_code == 202
    assert ping.json()["event_type"] == "ping"
    retry = host_client.post(f"/api/host/webhook-endpoints/{endpoint['id']}/deliveries/{ping.json()['id']}/retry")
    assert retry.status_code == 202
    assert events_of(host_client) == []  # a ping is not one of the host's events


def test_another_hosts_endpoint_is_404_everywhere(host_client, other_host_client):
    endpoint = create_endpoint(host_client).json()
    ping = host_client.post(f"/api/host/webhook-endpoints/{endpoint['id']}/ping").json()
    base = f"/api/host/webhook-endpoints/{endpoint['id']}"
    assert other_host_client.get(base).status_code == 404
    assert other_host_client.patch(base, {"description": "x"}, format="json").status_code == 404
    assert other_host_client.delete(base).status_code == 404
    assert other_host_client.post(f"{base}/rotate-secret").status_code == 404
    assert other_host_client.post(f"{base}/ping").status_code == 404
    assert other_host_client.get(f"{base}/deliveries").status_code == 404
    assert other_host_client.post(f"{base}/deliveries/{ping['id']}/retry").status_code == 404
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).enabled is True


def test_the_deliveries_list_has_a_constant_query_count(host_client, django_assert_max_num_queries):
    endpoint = create_endpoint(host_client).json()
    for n in range(5):
        provision(host_client, {**ITEM, "server_id": f"srv-{n}"})
    with django_assert_max_num_queries(6):
        response = host_client.get(f"/api/host/webhook-endpoints/{endpoint['id']}/deliveries")
    assert len(response.json()["results"]) == 5
