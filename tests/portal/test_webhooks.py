import pytest

from audit.models import AuditEvent
from events.models import WebhookDelivery, WebhookEndpoint
from events.services import endpoint_ping

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks"


@pytest.fixture(autouse=True)
def local_webhooks(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


def main_of(response):
    return response.content.decode().split("<main>", 1)[1].split("</main>", 1)[0]


def test_an_owner_adds_an_endpoint_and_reads_its_secret_once(owner_client, owner, host):
    response = owner_client.post(
        "/portal/webhooks/", {"url": URL, "events": ["license.suspended", "invoice.issued"]}, follow=True
    )
    endpoint = WebhookEndpoint.objects.get(host=host)
    assert (endpoint.url, endpoint.events, endpoint.livemode) == (URL, ["license.suspended", "invoice.issued"], True)
    assert endpoint.secret in main_of(response) and endpoint.secret.startswith("whsec_")
    assert "no-store" in response["Cache-Control"]
    assert endpoint.secret not in owner_client.get(f"/portal/webhooks/{endpoint.pk}/").content.decode()
    assert AuditEvent.objects.get(action="webhook_endpoint.created").actor == owner.email


def test_a_refused_url_is_said_on_the_form(owner_client, host, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    response = owner_client.post("/portal/webhooks/", {"url": URL, "events": ["*"]})
    assert response.status_code == 200 and '<p class="error">' in main_of(response)
    assert not WebhookEndpoint.objects.exists()


def test_test_mode_has_its_own_endpoints(owner_client, host):
    owner_client.post("/portal/mode/", {"mode": "test"})
    owner_client.post("/portal/webhooks/", {"url": URL, "events": ["*"]})
    endpoint = WebhookEndpoint.objects.get(host=host)
    assert endpoint.livemode is False and endpoint.events == ["*"]
    owner_client.post("/portal/mode/", {"mode": "live"})
    assert owner_client.get(f"/portal/webhooks/{endpoint.pk}/").status_code == 404


def test_deliveries_are_listed_retried_and_the_endpoint_disabled(owner_client, host):
    owner_client.post("/portal/webhooks/", {"url": URL, "events": ["*"]})
    endpoint = WebhookEndpoint.objects.get(host=host)
    delivery = endpoint_ping(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed", attempts=3, last_status_code=500)
    page = main_of(owner_client.get(f"/portal/webhooks/{endpoint.pk}/"))
    assert delivery.event.public_id in page and "failed" in page and "500" in page
    retry_url = f"/portal/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/retry/"
    assert '<button type="submit">Retry</button>' in main_of(owner_client.get(retry_url))
    owner_client.post(retry_url)
    assert WebhookDelivery.objects.get(pk=delivery.pk).state == "pending"
    assert '<button type="submit" class="terminate">Disable</button>' in main_of(
        owner_client.get(f"/portal/webhooks/{endpoint.pk}/disable/")
    )
    owner_client.post(f"/portal/webhooks/{endpoint.pk}/disable/")
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled is False
