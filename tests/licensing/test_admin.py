import re

import pytest

from audit.models import AuditEvent
from licensing.models import HostLicense
from tests.admin_pages import messages_of
from tests.factories import HostLicenseFactory

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
    # Details are read, not decoded: no raw dict, a status change is "from → to".
    assert "{&#x27;" not in html and "{'" not in html
    assert "<dt>change</dt><dd>active → suspended</dd>" in html
    assert "<dt>server id</dt><dd>rust-1</dd>" in html


def test_an_edit_shows_each_changed_field_from_old_to_new(host_client, staff_client):
    body = {"server_id": "rust-1", "hostname": "old.acme.test", "customer_email": "gamer@example.test"}
    license_id = host_client.post("/api/host/provision", body, format="json").json()["id"]
    host_client.patch(f"/api/host/licenses/{license_id}", {"hostname": "<i>new</i>.acme.test"}, format="json")
    pk = HostLicense.objects.get(license_id=license_id).pk
    html = staff_client.get(f"/admin/licensing/hostlicense/{pk}/change/").content.decode()
    assert "<dt>hostname</dt><dd>old.acme.test → &lt;i&gt;new&lt;/i&gt;.acme.test</dd>" in html
    event = AuditEvent.objects.get(action="license.updated")
    detail = staff_client.get(f"/admin/audit/auditevent/{event.pk}/change/").content.decode()
    assert "<dt>hostname</dt><dd>old.acme.test → &lt;i&gt;new&lt;/i&gt;.acme.test</dd>" in detail
    listing = staff_client.get("/admin/audit/auditevent/").content.decode()
    assert "old.acme.test → &lt;i&gt;new&lt;/i&gt;.acme.test" in listing


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
    host_license = HostLicenseFactory(host=host)
    response = staff_client.post(
        "/admin/licensing/hostlicense/",
        {"action": "delete_selected", "_selected_action": [str(host_license.pk)], "post": "yes"},
        follow=True,
    )
    assert HostLicense.objects.filter(pk=host_license.pk).exists()
    assert messages_of(response) == [
        ("error", "Licenses are never deleted here: terminate a license instead; its history and bills stay.")
    ]
    assert staff_client.get("/admin/licensing/hostlicense/add/").status_code == 403
    assert staff_client.get(f"/admin/licensing/hostlicense/{host_license.pk}/delete/").status_code == 403
    confirmed = staff_client.post(f"/admin/licensing/hostlicense/{host_license.pk}/delete/", {"post": "yes"})
    assert confirmed.status_code == 403
    assert HostLicense.objects.filter(pk=host_license.pk).exists()


def test_audit_events_cannot_be_deleted_in_the_admin(host, staff_client):
    HostLicenseFactory(host=host)
    event = AuditEvent.objects.create(
        occurred_at=host.created_at, actor_type="command", actor="tests", action="x", target_type="t", target_id="1"
    )
    response = staff_client.post(
        "/admin/audit/auditevent/",
        {"action": "delete_selected", "_selected_action": [str(event.pk)], "post": "yes"},
        follow=True,
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert messages_of(response) == [("error", "Audit events are never deleted here: the audit trail is append-only.")]


@pytest.mark.parametrize("action", ["suspend", "resume", "terminate"])
@pytest.mark.parametrize("selected", ["not-a-uuid", "12", "\x00"])
def test_an_action_on_a_selection_that_is_no_id_is_a_message_not_a_500(host, staff_client, action, selected):
    host_license = HostLicenseFactory(host=host)
    response = staff_client.post(
        "/admin/licensing/hostlicense/",
        {"action": action, "_selected_action": [selected, str(host_license.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert messages_of(response) == [("error", "The selection is not valid: select the rows on the list again.")]
    host_license.refresh_from_db()
    assert host_license.status == "active"


def test_admin_search_finds_a_license_by_the_id_the_api_shows(host, host_client, staff_client):
    body = {"server_id": "rust-wanted", "hostname": "play.acme.test", "customer_email": "gamer@example.test"}
    license_id = host_client.post("/api/host/provision", body, format="json").json()["id"]
    HostLicenseFactory.create_batch(2, host=host)
    for term in (license_id, license_id.upper(), f"  {license_id} "):
        html = staff_client.get("/admin/licensing/hostlicense/", {"q": term}).content.decode()
        assert re.findall(r'<td class="field-host', html).__len__() == 1, term
        assert "rust-wanted" in html
    page = staff_client.get(f"/admin/licensing/hostlicense/{HostLicense.objects.get(license_id=license_id).pk}/change/")
    assert license_id in page.content.decode()


@pytest.mark.parametrize("filters", ["", "?status__exact=active", "?online=yes", "?q=rust"])
def test_the_license_list_query_count_does_not_grow(host, staff_client, django_assert_max_num_queries, filters):
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
