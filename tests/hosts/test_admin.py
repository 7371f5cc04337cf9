import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import AuditEvent
from hosts.models import Host, HostAPIKey
from tests.admin_pages import messages_of
from tests.factories import HostAPIKeyFactory, HostFactory, HostLicenseFactory

pytestmark = pytest.mark.django_db

KEY = re.compile(r"crn_[a-z0-9]{8}_[A-Za-z0-9]{43,}")


def api_status(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.get("/api/host/licenses").status_code


def create_in_admin(staff_client, email="ops@new.test", rate="5.50", company="New Hosting"):
    return staff_client.post(
        "/admin/hosts/host/add/", {"company_name": company, "contact_email": email, "wholesale_rate_usd": rate}
    )


def shown_key(staff_client, response):
    """Follow the redirect after a POST that issued a key; the raw key the page shows once."""
    assert response.status_code == 302, response.content.decode()[:2000]
    page = staff_client.get(response["Location"])
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    return KEY.search(page.content.decode()).group(0)


def test_creating_a_host_shows_its_first_key_once_and_never_again(staff_client):
    response = create_in_admin(staff_client)
    # The key is not the answer to the POST: a reload of the answer would post the form again.
    assert response.status_code == 302
    assert not KEY.search(response.content.decode())
    page = staff_client.get(response["Location"])
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "only time this API key is shown" in html
    raw_key = KEY.search(html).group(0)
    assert api_status(raw_key) == 200

    reloaded = staff_client.get(response["Location"])
    assert reloaded.status_code == 200
    assert "no-store" in reloaded["Cache-Control"]
    assert not KEY.search(reloaded.content.decode())
    assert "already been shown once" in reloaded.content.decode()
    assert raw_key.split("_")[1] in reloaded.content.decode()  # the key id is no secret

    host = Host.objects.get(contact_email="ops@new.test")
    assert host.wholesale_rate_usd == Decimal("5.50")
    assert AuditEvent.objects.filter(actor_type="staff", action="host.created").count() == 1
    for page in (f"/admin/hosts/host/{host.pk}/change/", "/admin/hosts/host/", "/admin/hosts/hostapikey/"):
        assert raw_key.split("_")[2] not in staff_client.get(page).content.decode()
    assert raw_key.split("_")[2] not in str(dict(staff_client.session))


def test_the_key_page_belongs_to_its_host(staff_client):
    shown_key(staff_client, create_in_admin(staff_client))
    first = Host.objects.get()
    create_in_admin(staff_client, email="ops@second.test")  # its key waits, unshown
    second_key = HostAPIKey.objects.get(host__contact_email="ops@second.test")
    response = staff_client.get(f"/admin/hosts/host/{first.pk}/key/{second_key.key_id}/")
    assert response.status_code == 404
    assert not KEY.search(response.content.decode())
    # The second host's own page still shows its key, once.
    assert KEY.search(
        staff_client.get(f"/admin/hosts/host/{second_key.host_id}/key/{second_key.key_id}/").content.decode()
    )


def test_a_duplicate_email_is_shown_on_its_field(staff_client):
    create_in_admin(staff_client)
    response = create_in_admin(staff_client, email="OPS@new.test")
    assert response.status_code == 200
    html = response.content.decode()
    assert not KEY.search(html)
    assert response.context["adminform"].form.errors["contact_email"] == [
        "A host with the e-mail OPS@new.test already exists."
    ]
    assert "hosts_contact_email_ci_unique" not in html
    assert Host.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("wholesale_rate_usd", "6.005", "decimal places"),
        ("wholesale_rate_usd", "1000.01", "from 0.00 to 1000.00"),
        ("wholesale_rate_usd", "-1", "from 0.00 to 1000.00"),
        ("contact_email", "not-an-email", "valid email"),
        ("company_name", "   ", "required"),
        ("company_name", "x" * 201, "at most 200"),
    ],
)
def test_a_refused_create_shows_the_field_error_and_creates_nothing(staff_client, field, value, message):
    data = {"company_name": "New Hosting", "contact_email": "ops@new.test", "wholesale_rate_usd": "6.00", field: value}
    response = staff_client.post("/admin/hosts/host/add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert not Host.objects.exists()


def test_issue_another_key_then_revoke_the_first(staff_client):
    first = shown_key(staff_client, create_in_admin(staff_client))
    host = Host.objects.get()
    response = staff_client.post("/admin/hosts/host/", {"action": "issue_api_key", "_selected_action": [str(host.pk)]})
    assert not KEY.search(response.content.decode())
    second = shown_key(staff_client, response)
    assert second != first
    assert api_status(first) == api_status(second) == 200
    reloaded = staff_client.get(response["Location"])
    assert "no-store" in reloaded["Cache-Control"]
    assert not KEY.search(reloaded.content.decode())
    assert "already been shown once" in reloaded.content.decode()

    key = HostAPIKey.objects.get(key_id=first.split("_")[1])
    staff_client.post("/admin/hosts/hostapikey/", {"action": "revoke", "_selected_action": [str(key.pk)]})
    assert api_status(first) == 401
    assert api_status(second) == 200
    assert AuditEvent.objects.filter(action="api_key.revoked", actor="staff").count() == 1


def test_deactivating_a_host_stops_its_keys_at_once(staff_client):
    raw_key = shown_key(staff_client, create_in_admin(staff_client))
    host = Host.objects.get()
    staff_client.post("/admin/hosts/host/", {"action": "deactivate", "_selected_action": [str(host.pk)]})
    assert api_status(raw_key) == 401
    staff_client.post("/admin/hosts/host/", {"action": "activate", "_selected_action": [str(host.pk)]})
    assert api_status(raw_key) == 200


def edit_in_admin(staff_client, host, **changes):
    data = {
        "company_name": host.company_name,
        "contact_email": host.contact_email,
        "wholesale_rate_usd": str(host.wholesale_rate_usd),
        "rates-TOTAL_FORMS": "1",
        "rates-INITIAL_FORMS": "1",
        "api_keys-TOTAL_FORMS": "1",
        "api_keys-INITIAL_FORMS": "1",
        **changes,
    }
    return staff_client.post(f"/admin/hosts/host/{host.pk}/change/", data)


def test_a_rate_edit_goes_through_the_rate_history_and_the_audit_trail(staff_client):
    create_in_admin(staff_client, rate="6.00")
    host = Host.objects.get()
    response = edit_in_admin(staff_client, host, wholesale_rate_usd="4.75")
    assert response.status_code == 302, response.content.decode()[:2000]
    host.refresh_from_db()
    assert host.wholesale_rate_usd == Decimal("4.75")
    assert [r.wholesale_rate_usd for r in host.rates.order_by("effective_from")] == [Decimal("6.00"), Decimal("4.75")]
    event = AuditEvent.objects.get(action="host.updated")
    assert (event.actor_type, event.data) == ("staff", {"wholesale_rate_usd": ["6.00", "4.75"]})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("wholesale_rate_usd", "6.005", "decimal places"),
        ("wholesale_rate_usd", "1000.01", "from 0.00 to 1000.00"),
        ("wholesale_rate_usd", "NaN", "number"),
        ("contact_email", "ops@taken.test", "already exists"),
        ("company_name", "", "required"),
    ],
)
def test_a_refused_edit_shows_the_field_error_and_no_success(staff_client, field, value, message):
    HostFactory(contact_email="ops@taken.test")
    host = HostFactory(company_name="Edited Hosting", wholesale_rate_usd=Decimal("6.00"))
    response = edit_in_admin(staff_client, host, **{field: value})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert not any(level == "success" for level, _ in messages_of(response))
    assert "changed successfully" not in response.content.decode()
    host.refresh_from_db()
    assert (host.company_name, host.wholesale_rate_usd) == ("Edited Hosting", Decimal("6.00"))
    assert not AuditEvent.objects.filter(action="host.updated").exists()


def test_a_refusal_only_the_service_sees_is_one_error_and_no_success(staff_client, monkeypatch):
    """Another change lands between the form's checks and the save: the service refuses, once."""
    import hosts.admin

    host = HostFactory(company_name="Raced Hosting", contact_email="ops@raced.test")
    update = hosts.admin.host_update

    def lose_the_race_then_update(**kwargs):
        HostFactory(contact_email=kwargs["contact_email"].upper())  # another admin took the e-mail meanwhile
        return update(**kwargs)

    monkeypatch.setattr(hosts.admin, "host_update", lose_the_race_then_update)
    response = edit_in_admin(staff_client, host, contact_email="ops@wanted.test", wholesale_rate_usd="7.00")
    assert response.status_code == 302
    page = staff_client.get(response["Location"])
    assert messages_of(page) == [("error", "A host with the e-mail ops@wanted.test already exists.")]
    assert "changed successfully" not in page.content.decode()
    host.refresh_from_db()
    assert (host.contact_email, host.wholesale_rate_usd) == ("ops@raced.test", Decimal("6.00"))
    assert not AuditEvent.objects.filter(action="host.updated").exists()


def test_hosts_cannot_be_deleted_in_the_admin(staff_client):
    host = HostFactory()
    response = staff_client.post(
        "/admin/hosts/host/",
        {"action": "delete_selected", "_selected_action": [str(host.pk)], "post": "yes"},
        follow=True,
    )
    assert Host.objects.filter(pk=host.pk).exists()
    assert messages_of(response) == [
        (
            "error",
            "Hosts are never deleted here: deactivate a host instead (its API keys stop working); "
            "its licenses and bills stay.",
        )
    ]
    assert staff_client.get(f"/admin/hosts/host/{host.pk}/delete/").status_code == 403
    assert staff_client.post(f"/admin/hosts/host/{host.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Host.objects.filter(pk=host.pk).exists()


@pytest.mark.parametrize(
    "selected",
    [["not-a-uuid"], ["1"], ["00000000-0000-0000-0000-00000000000g"], ["\x00"], ["x" * 10_000]],
)
@pytest.mark.parametrize(
    ("page", "action"),
    [
        ("/admin/hosts/host/", "issue_api_key"),
        ("/admin/hosts/host/", "deactivate"),
        ("/admin/hosts/host/", "activate"),
        ("/admin/hosts/hostapikey/", "revoke"),
    ],
)
def test_an_action_on_a_selection_that_is_no_id_is_a_message_not_a_500(staff_client, page, action, selected):
    host = HostAPIKeyFactory().host
    response = staff_client.post(page, {"action": action, "_selected_action": [*selected, str(host.pk)]})
    assert response.status_code == 302
    page_after = staff_client.get(response["Location"])
    assert ("error", "The selection is not valid: select the rows on the list again.") in messages_of(page_after)
    host.refresh_from_db()
    assert host.active
    assert HostAPIKey.objects.get().revoked_at is None


def test_admin_search_finds_a_host_by_company_name(staff_client):
    HostFactory(company_name="Blue Lagoon Servers")
    HostFactory(company_name="Red Rock Hosting")
    html = staff_client.get("/admin/hosts/host/?q=lagoon").content.decode()
    assert "Blue Lagoon Servers" in html
    assert "Red Rock Hosting" not in html


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


def test_a_service_refusal_during_an_action_is_a_message_not_a_500(staff_client, monkeypatch):
    import hosts.admin
    from corrosion.errors import DomainError, ErrorCode

    def no_free_key_id(**kwargs):
        raise DomainError(ErrorCode.SERVICE_UNAVAILABLE, "Could not find a free key id; try again.", retry_after=1)

    monkeypatch.setattr(hosts.admin, "api_key_issue", no_free_key_id)
    host = HostFactory()
    response = staff_client.post("/admin/hosts/host/", {"action": "issue_api_key", "_selected_action": [str(host.pk)]})
    assert response.status_code == 302
    page = staff_client.get(response["Location"])
    assert messages_of(page) == [("error", "Could not find a free key id; try again.")]
