from datetime import timedelta

import pytest
from django.core import mail

from audit.models import AuditEvent
from audit.services import Actor
from billing.months import month_format, month_latest_closable, month_start
from billing.services import month_close
from hosts.models import HostAPIKey
from hosts.services import api_key_issue, host_update
from licensing.models import HostLicense, LicenseStatus
from licensing.services import license_suspend
from portal.models import Membership
from tests.factories import HostLicenseFactory
from tests.portal.conftest import PASSWORD, client_for, make_partner

pytestmark = pytest.mark.django_db


def main_of(response):
    html = response.content.decode()
    assert "<main>" in html
    return html.split("<main>", 1)[1].split("</main>", 1)[0]


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/portal/licenses/")
    assert response.status_code == 302 and response["Location"].startswith("/portal/login/")


def test_the_dashboard_names_the_company_and_counts_licenses(owner_client, host):
    HostLicenseFactory.create_batch(2, host=host)
    HostLicenseFactory(host=host, status=LicenseStatus.SUSPENDED)
    page = main_of(owner_client.get("/portal/"))
    assert "Acme Hosting" in page
    assert "Suspended</dt><dd>1" in page and "Active</dt><dd>2" in page


def test_live_is_the_default_and_the_switch_shows_the_test_world(owner_client, host):
    live = HostLicenseFactory(host=host, livemode=True, server_identifier="live-1")
    test = HostLicenseFactory(host=host, livemode=False, server_identifier="test-1")
    page = main_of(owner_client.get("/portal/licenses/"))
    assert "live-1" in page and "test-1" not in page
    assert owner_client.get(f"/portal/licenses/{test.license_id}/").status_code == 404
    owner_client.post("/portal/mode/", {"mode": "test", "next": "/portal/licenses/"})
    page = main_of(owner_client.get("/portal/licenses/"))
    assert "test-1" in page and "live-1" not in page
    assert owner_client.get(f"/portal/licenses/{live.license_id}/").status_code == 404


def test_search_and_status_filter(owner_client, host):
    a = HostLicenseFactory(host=host, server_identifier="rust-nyc-01")
    b = HostLicenseFactory(host=host, server_identifier="rust-ams-02", status=LicenseStatus.SUSPENDED)
    cases = {
        "?q=rust-nyc-01": a,
        f"?q={b.license.hostname.upper()}": b,
        f"?q={a.customer_email}": a,
        f"?q={b.license.license_key}": b,
        "?status=suspended": b,
    }
    for query, expected in cases.items():
        page = main_of(owner_client.get(f"/portal/licenses/{query}"))
        other = b if expected is a else a
        assert expected.server_identifier in page and other.server_identifier not in page, query


def test_the_license_list_pages_with_keyset_cursors_in_constant_queries(
    owner_client, host, django_assert_max_num_queries
):
    HostLicenseFactory.create_batch(55, host=host)
    with django_assert_max_num_queries(8):
        first = owner_client.get("/portal/licenses/")
    assert first.content.decode().count('href="/portal/licenses/') >= 50
    next_link = first.context["page"].next
    assert next_link
    with django_assert_max_num_queries(8):
        second = owner_client.get(f"/portal/licenses/{next_link}")
    assert len(second.context["rows"]) == 5
    assert owner_client.get("/portal/licenses/?cursor=garbage").status_code == 404


def test_a_license_page_shows_its_last_heartbeat_and_history(owner_client, host):
    hl = HostLicenseFactory(host=host, plugin_version="2.4.1", player_count=37)
    HostLicense.objects.filter(pk=hl.pk).update(last_seen_at=hl.provisioned_at + timedelta(minutes=1))
    response = owner_client.get(f"/portal/licenses/{hl.license_id}/")
    page = main_of(response)
    assert str(hl.license_id) in page
    assert "2.4.1" in page and "37" in page and "<time" in page and " UTC" in page
    assert "Status history" in page and "Active" in page
    assert "no-store" in response["Cache-Control"]


def test_suspend_goes_through_a_confirmation_page_and_the_service(owner_client, owner, host):
    hl = HostLicenseFactory(host=host)
    confirm = owner_client.get(f"/portal/licenses/{hl.license_id}/suspend/")
    page = main_of(confirm)
    assert '<button type="submit" class="suspend">Suspend</button>' in page
    assert "confirm(" not in confirm.content.decode()
    HostLicense.objects.get(pk=hl.pk).status == LicenseStatus.ACTIVE  # noqa: B015 (a GET changes nothing)
    response = owner_client.post(f"/portal/licenses/{hl.license_id}/suspend/")
    assert response.status_code == 302
    assert HostLicense.objects.get(pk=hl.pk).status == LicenseStatus.SUSPENDED
    event = AuditEvent.objects.get(action="license.suspended")
    assert (event.actor_type, event.actor) == ("partner", owner.email)
    history = hl.license.status_changes.order_by("-sequence").first()
    assert (history.actor_type, history.actor) == ("partner", owner.email)
    owner_client.post(f"/portal/licenses/{hl.license_id}/resume/")
    assert HostLicense.objects.get(pk=hl.pk).status == LicenseStatus.ACTIVE
    owner_client.post(f"/portal/licenses/{hl.license_id}/terminate/")
    assert HostLicense.objects.get(pk=hl.pk).status == LicenseStatus.TERMINATED


def test_a_staff_suspension_cannot_be_resumed_here_either(member_client, host, staff_user):
    hl = HostLicenseFactory(host=host)
    license_suspend(host_license=hl, actor=Actor.staff(staff_user))
    response = member_client.post(f"/portal/licenses/{hl.license_id}/resume/", follow=True)
    assert "only staff can resume" in main_of(response)
    assert HostLicense.objects.get(pk=hl.pk).status == LicenseStatus.SUSPENDED


def test_an_unknown_action_is_not_found_on_a_page(owner_client, host):
    hl = HostLicenseFactory(host=host)
    response = owner_client.post(f"/portal/licenses/{hl.license_id}/delete/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html") and "Not found" in main_of(response)


def test_a_deactivated_hosts_people_read_but_change_nothing(owner_client, host):
    hl = HostLicenseFactory(host=host)
    host_update(host=host, actor=Actor.command("tests"), active=False)
    assert owner_client.get("/portal/").status_code == 200
    assert "deactivated" in owner_client.get(f"/portal/licenses/{hl.license_id}/").content.decode()
    owner_client.post(f"/portal/licenses/{hl.license_id}/suspend/")
    owner_client.post("/portal/keys/", {"name": "x", "mode": "live"})
    owner_client.post("/portal/team/", {"email": "new@acme.test", "role": "member"})
    assert HostLicense.objects.get(pk=hl.pk).status == LicenseStatus.ACTIVE
    assert not HostAPIKey.objects.filter(host=host).exists()
    assert not mail.outbox


def test_an_owner_issues_a_key_shown_once_and_it_works_on_the_api(owner_client, owner, host):
    response = owner_client.post("/portal/keys/", {"name": "robot", "mode": "test"}, follow=True)
    raw = response.context["new_key"]
    assert raw.startswith("crn_test_") and raw in main_of(response)
    assert "no-store" in response["Cache-Control"]
    assert raw not in owner_client.get("/portal/keys/").content.decode()  # gone after a reload
    key = HostAPIKey.objects.get(host=host)
    assert (key.name, key.livemode) == ("robot", False)
    assert AuditEvent.objects.get(action="api_key.issued").actor == owner.email
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/host/licenses").status_code == 200
    confirm = owner_client.get(f"/portal/keys/{key.key_id}/revoke/")
    assert '<button type="submit" class="terminate">Revoke</button>' in main_of(confirm)
    owner_client.post(f"/portal/keys/{key.key_id}/revoke/")
    assert api.get("/api/host/licenses").status_code == 401


def test_an_owner_invites_and_removes_a_member(owner_client, host, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/portal/team/", {"email": "new@acme.test", "role": "member"})
    assert mail.outbox[0].to == ["new@acme.test"]
    link = next(line for line in mail.outbox[0].body.splitlines() if "/portal/invitations/" in line)
    path = link.split("127.0.0.1:8000", 1)[1]
    from django.test import Client

    Client().post(path, {"password": PASSWORD, "password_again": PASSWORD})
    member = Membership.objects.get(user__email="new@acme.test")
    assert member.role == "member"
    owner_client.post(f"/portal/team/{member.pk}/remove/")
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert AuditEvent.objects.filter(action="portal.removed").exists()


def test_the_last_owner_cannot_be_removed(host, owner):
    second = make_partner(host, "second@acme.test", "owner")
    client = client_for(second)
    client.post(f"/portal/team/{owner.portal_membership.pk}/remove/")
    response = client_for(second).post(f"/portal/team/{second.portal_membership.pk}/remove/", follow=True)
    assert "last owner" in main_of(response)
    assert Membership.objects.filter(user=second).exists()


def test_the_team_page_refuses_an_address_that_is_not_free(owner_client, host, staff_user):
    response = owner_client.post("/portal/team/", {"email": staff_user.email, "role": "member"})
    assert "belongs to Corrosion staff" in main_of(response)


@pytest.fixture
def closed_month(host):
    month = month_latest_closable()
    HostLicenseFactory(host=host, server_identifier="billed-1", provisioned_at=month_start(month) - timedelta(days=5))
    month_close(month=month, actor=Actor.command("tests"))
    return month


def test_bills_list_a_month_with_lines_and_a_csv(owner_client, closed_month):
    name = month_format(closed_month)
    assert name in main_of(owner_client.get("/portal/bills/"))
    page = main_of(owner_client.get(f"/portal/bills/{name}/"))
    assert "billed-1" in page and "Waived servers" in page
    response = owner_client.get(f"/portal/bills/{name}.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("month,") and "billed-1" in body
    assert owner_client.get("/portal/bills/2999-01/").status_code == 404
    assert owner_client.get("/portal/bills/1990-01/").status_code == 404
    assert owner_client.get("/portal/bills/garbage/").status_code == 404


def test_invoices_list_page_and_pdf(member_client, closed_month, host):
    invoice = host.invoices.get()
    assert invoice.number in main_of(member_client.get("/portal/invoices/"))
    assert "billed-1" in main_of(member_client.get(f"/portal/invoices/{invoice.number}/"))
    pdf = member_client.get(f"/portal/invoices/{invoice.number}.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert f"{invoice.number}.pdf" in pdf["Content-Disposition"]


def test_login_is_locked_out_after_repeated_failures(client, owner, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/portal/login/", {"email": owner.email, "password": "wrong"}).status_code == 200
    assert client.post("/portal/login/", {"email": owner.email, "password": "wrong"}).status_code == 429
    response = client.post("/portal/login/", {"email": owner.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in main_of(response) and int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_staff_cannot_sign_in_to_the_portal(client, staff_user):
    response = client.post("/portal/login/", {"email": staff_user.email, "password": "staff-password-for-tests"})
    assert response.status_code == 200 and "do not match" in main_of(response)


def test_password_reset_mails_a_link_on_the_public_base_url(client, owner, staff_user, settings):
    settings.PUBLIC_BASE_URL = "https://corrosion.example"
    client.post("/portal/password-reset/", {"email": staff_user.email})
    assert not mail.outbox  # staff reset their passwords elsewhere
    client.post("/portal/password-reset/", {"email": owner.email.upper()})
    link = next(
        line for line in mail.outbox[0].body.splitlines() if line.startswith("https://corrosion.example/portal/")
    )
    path = link.removeprefix("https://corrosion.example")
    form = client.get(path, follow=True)
    new = "another-long-password-2"
    client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert client.post("/portal/login/", {"email": owner.email, "password": new}).status_code == 302


def test_list_pages_read_in_a_fixed_number_of_queries(owner_client, owner, host, django_assert_max_num_queries):
    HostLicenseFactory.create_batch(30, host=host)
    for n in range(5):
        make_partner(host, f"person{n}@acme.test", "member")
        api_key_issue(host=host, actor=Actor.command("tests"), name=f"key {n}")
    for path in (
        "/portal/",
        "/portal/licenses/",
        "/portal/bills/",
        "/portal/invoices/",
        "/portal/keys/",
        "/portal/team/",
    ):
        with django_assert_max_num_queries(12):
            assert owner_client.get(path).status_code == 200, path


@pytest.mark.parametrize("target", ["https://evil.test/portal/", "//evil.test/portal/", "/admin/", "/\\evil.test"])
def test_sign_in_never_redirects_off_the_portal(client, owner, target):
    response = client.post(f"/portal/login/?next={target}", {"email": owner.email, "password": PASSWORD})
    assert response["Location"] == "/portal/"


def test_sign_in_returns_to_the_page_asked_for(client, owner):
    response = client.post("/portal/login/?next=/portal/bills/", {"email": owner.email, "password": PASSWORD})
    assert response["Location"] == "/portal/bills/"


def test_a_form_posted_without_its_csrf_token_gets_a_page_not_json(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/portal/login/", {"email": "x@example.test", "password": "x"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b"CSRF" in response.content


def test_the_api_still_answers_a_csrf_failure_as_json(rf):
    from corrosion.api.views import csrf_failure

    response = csrf_failure(rf.post("/api/host/provision"))
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
