import pytest

from audit.models import AuditEvent
from licensing.models import HostLicense

pytestmark = pytest.mark.django_db


def test_staff_read_a_licenses_audit_trail(host_client, staff_client):
    body = {"server_id": "rust-1", "hostname": "<b>play</b>.acme.test", "customer_email": "gamer@example.test"}
    license_id = host_client.post("/api/host/provision", body, format="json").json()["id"]
    host_client.post(f"/api/host/licenses/{license_id}/suspend")

    response = staff_client.get(
        f"/admin/licensing/hostlicense/{HostLicense.objects.get(license_id=license_id).pk}/change/"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Audit trail" in html
    assert html.index("license.provisioned") < html.index("license.suspended")
    assert "<b>play</b>" not in html  # stored as given, shown escaped
    assert "&lt;b&gt;play&lt;/b&gt;" in html


def test_the_audit_trail_cannot_be_edited_in_the_admin(host_client, staff_client):
    host_client.post(
        "/api/host/provision",
        {"server_id": "rust-1", "hostname": "play.acme.test", "customer_email": "g@example.test"},
        format="json",
    )
    event = AuditEvent.objects.filter(action="license.provisioned").get()
    assert staff_client.get("/admin/audit/auditevent/").status_code == 200
    assert staff_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert staff_client.get("/admin/audit/auditevent/add/").status_code == 403
    response = staff_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "x"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "license.provisioned"


def _select(staff_client, action, host_licenses):
    return staff_client.post(
        "/admin/licensing/hostlicense/",
        {"action": action, "_selected_action": [str(hl.pk) for hl in host_licenses]},
        follow=True,
    )


def test_staff_suspend_resume_and_terminate_through_the_services(host, host_client, staff_client):
    from tests.factories import HostLicenseFactory

    active, suspended = HostLicenseFactory(host=host), HostLicenseFactory(host=host, status="suspended")
    response = _select(staff_client, "suspend", [active, suspended])
    assert "Suspended 1 license(s)." in response.content.decode()
    assert host_client.get(f"/api/host/licenses/{active.license_id}").json()["status"] == "suspended"
    event = AuditEvent.objects.get(action="license.suspended")
    assert (event.actor_type, event.actor) == ("staff", "staff")

    _select(staff_client, "terminate", [active])
    response = _select(staff_client, "resume", [active])
    assert "Refused" in response.content.decode()
    assert host_client.get(f"/api/host/licenses/{active.license_id}").json()["status"] == "terminated"


def test_licenses_cannot_be_added_edited_or_deleted_in_the_admin(host, staff_client):
    from tests.factories import HostLicenseFactory

    host_license = HostLicenseFactory(host=host)
    assert staff_client.get("/admin/licensing/hostlicense/add/").status_code == 403
    assert staff_client.get(f"/admin/licensing/hostlicense/{host_license.pk}/delete/").status_code == 403
    response = _select(staff_client, "delete_selected", [host_license])
    assert HostLicense.objects.filter(pk=host_license.pk).exists()
    assert response.status_code == 200


@pytest.mark.parametrize("filters", ["", "?status__exact=active", "?online=yes", "?q=rust"])
def test_the_license_list_query_count_does_not_grow(host, staff_client, django_assert_max_num_queries, filters):
    from tests.factories import HostLicenseFactory

    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(f"/admin/licensing/hostlicense/{filters}").status_code == 200
        return len(queries)

    HostLicenseFactory.create_batch(3, host=host)
    small = count_queries()
    HostLicenseFactory.create_batch(40, host=host)
    assert count_queries() == small


def test_a_terminated_license_is_never_online_in_the_admin(host, staff_client):
    """Neither in the online column nor under the online filter, however recently its plugin beat."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import HostLicenseFactory

    seen = timezone.now() - timedelta(minutes=1)
    beating = HostLicenseFactory(host=host, server_identifier="rust-beating", last_seen_at=seen)
    terminated = HostLicenseFactory(host=host, server_identifier="rust-gone", status="terminated", last_seen_at=seen)

    online = staff_client.get("/admin/licensing/hostlicense/?online=yes")
    assert list(online.context["cl"].result_list) == [beating]
    offline = staff_client.get("/admin/licensing/hostlicense/?online=no")
    assert list(offline.context["cl"].result_list) == [terminated]
    listing = staff_client.get("/admin/licensing/hostlicense/")
    model_admin = listing.context["cl"].model_admin
    assert model_admin.online(beating) is True
    assert model_admin.online(terminated) is False
