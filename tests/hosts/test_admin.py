import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import AuditEvent
from hosts.models import Host, HostAPIKey
from tests.factories import HostAPIKeyFactory, HostFactory, HostLicenseFactory

pytestmark = pytest.mark.django_db

KEY = re.compile(r"crn_[a-z0-9]{8}_[A-Za-z0-9]{43,}")


def api_status(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.get("/api/host/licenses").status_code


def create_in_admin(staff_client, email="ops@new.test", rate="5.50"):
    return staff_client.post(
        "/admin/hosts/host/add/", {"company_name": "New Hosting", "contact_email": email, "wholesale_rate_usd": rate}
    )


def test_creating_a_host_shows_its_first_key_once_and_never_again(staff_client):
    response = create_in_admin(staff_client)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "only time this API key is shown" in html
    raw_key = KEY.search(html).group(0)
    assert api_status(raw_key) == 200

    host = Host.objects.get(contact_email="ops@new.test")
    assert host.wholesale_rate_usd == Decimal("5.50")
    assert AuditEvent.objects.filter(actor_type="staff", action="host.created").count() == 1
    for page in (f"/admin/hosts/host/{host.pk}/change/", "/admin/hosts/host/", "/admin/hosts/hostapikey/"):
        assert raw_key.split("_")[2] not in staff_client.get(page).content.decode()


def test_a_duplicate_email_is_refused_with_the_form_shown_again(staff_client):
    create_in_admin(staff_client)
    response = create_in_admin(staff_client, email="OPS@new.test")
    assert response.status_code == 200
    assert not KEY.search(response.content.decode())
    assert Host.objects.count() == 1


def test_issue_another_key_then_revoke_the_first(staff_client):
    first = KEY.search(create_in_admin(staff_client).content.decode()).group(0)
    host = Host.objects.get()
    response = staff_client.post("/admin/hosts/host/", {"action": "issue_api_key", "_selected_action": [str(host.pk)]})
    second = KEY.search(response.content.decode()).group(0)
    assert second != first
    assert api_status(first) == api_status(second) == 200

    key = HostAPIKey.objects.get(key_id=first.split("_")[1])
    staff_client.post("/admin/hosts/hostapikey/", {"action": "revoke", "_selected_action": [str(key.pk)]})
    assert api_status(first) == 401
    assert api_status(second) == 200
    assert AuditEvent.objects.filter(action="api_key.revoked", actor="staff").count() == 1


def test_deactivating_a_host_stops_its_keys_at_once(staff_client):
    raw_key = KEY.search(create_in_admin(staff_client).content.decode()).group(0)
    host = Host.objects.get()
    staff_client.post("/admin/hosts/host/", {"action": "deactivate", "_selected_action": [str(host.pk)]})
    assert api_status(raw_key) == 401
    staff_client.post("/admin/hosts/host/", {"action": "activate", "_selected_action": [str(host.pk)]})
    assert api_status(raw_key) == 200


def test_a_rate_edit_goes_through_the_rate_history_and_the_audit_trail(staff_client):
    create_in_admin(staff_client, rate="6.00")
    host = Host.objects.get()
    response = staff_client.post(
        f"/admin/hosts/host/{host.pk}/change/",
        {
            "company_name": host.company_name,
            "contact_email": host.contact_email,
            "wholesale_rate_usd": "4.75",
            "rates-TOTAL_FORMS": "1",
            "rates-INITIAL_FORMS": "1",
            "api_keys-TOTAL_FORMS": "1",
            "api_keys-INITIAL_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    host.refresh_from_db()
    assert host.wholesale_rate_usd == Decimal("4.75")
    assert [r.wholesale_rate_usd for r in host.rates.order_by("effective_from")] == [Decimal("6.00"), Decimal("4.75")]
    event = AuditEvent.objects.get(action="host.updated")
    assert (event.actor_type, event.data) == ("staff", {"wholesale_rate_usd": ["6.00", "4.75"]})


def test_hosts_cannot_be_deleted_in_the_admin(staff_client):
    host = HostFactory()
    assert staff_client.get(f"/admin/hosts/host/{host.pk}/delete/").status_code == 403
    staff_client.post("/admin/hosts/host/", {"action": "delete_selected", "_selected_action": [str(host.pk)]})
    assert Host.objects.filter(pk=host.pk).exists()


def test_the_host_list_shows_live_licenses_and_last_activity(staff_client):
    host = HostFactory(company_name="Counted Hosting")
    HostLicenseFactory.create_batch(2, host=host)
    HostLicenseFactory(host=host, status="terminated")
    html = staff_client.get("/admin/hosts/host/?q=Counted").content.decode()
    assert re.search(r'field-live_licenses">2<', html)


@pytest.mark.parametrize("page", ["/admin/hosts/host/", "/admin/hosts/hostapikey/", "/admin/audit/auditevent/"])
def test_list_pages_query_counts_do_not_grow(staff_client, page):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(page).status_code == 200
        return len(captured)

    for _ in range(2):
        HostLicenseFactory(host=HostAPIKeyFactory().host)
    small = queries()
    for _ in range(30):
        HostLicenseFactory(host=HostAPIKeyFactory().host)
    assert queries() == small


def test_only_staff_reach_the_admin(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("customer", "c@example.test", "customer-password")
    client.force_login(user)
    response = client.get("/admin/hosts/host/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
