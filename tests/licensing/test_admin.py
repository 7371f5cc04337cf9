import pytest
from django.contrib.auth import get_user_model

from licensing.models import HostLicense

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "staff@corrosion.test", "pw-for-tests-only")
    client.force_login(user)
    return client


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
    from audit.models import AuditEvent

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
