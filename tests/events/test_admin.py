"""Staff see endpoints, deliveries and events read-only, never a secret, and can send a delivery again."""

import pytest

from audit.services import Actor
from events import services
from events.models import WebhookDelivery

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_dns")]


@pytest.fixture
def delivery(host):
    endpoint = services.endpoint_create(
        host=host, url="https://example.com/hooks", events=["*"], livemode=True, actor=Actor.command("t")
    )
    services.event_record(host=host, type="license.suspended", data={"id": "x"})
    WebhookDelivery.objects.update(state="failed", next_attempt_at=None)
    return WebhookDelivery.objects.get(endpoint=endpoint)


def test_pages_show_and_never_offer_to_edit_or_show_the_secret(staff_client, delivery):
    for path in (
        "/admin/events/event/",
        f"/admin/events/event/{delivery.event_id}/change/",
        "/admin/events/webhookendpoint/",
        f"/admin/events/webhookendpoint/{delivery.endpoint_id}/change/",
        "/admin/events/webhookdelivery/",
        f"/admin/events/webhookdelivery/{delivery.pk}/change/",
    ):
        response = staff_client.get(path)
        assert response.status_code == 200, path
        assert delivery.endpoint.secret not in response.content.decode()
        assert b'name="_save"' not in response.content
    assert staff_client.get("/admin/events/webhookendpoint/add/").status_code == 403
    assert staff_client.get("/admin/events/webhookendpoint/?secret__startswith=whsec").status_code == 400


def test_the_retry_action_sends_a_failed_delivery_again(staff_client, delivery):
    response = staff_client.post(
        "/admin/events/webhookdelivery/", {"action": "retry_now", "_selected_action": [str(delivery.pk)]}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.next_attempt_at is not None
