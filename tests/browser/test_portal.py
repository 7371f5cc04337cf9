"""The partner portal in a real browser: staff invite an owner, the owner joins, issues a key,
provisions with it, suspends in the portal (the API agrees), downloads an invoice PDF and a bill CSV,
invites a member who cannot open the keys page. Every page is photographed at 1280 and 390 px."""

import json
import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core import mail

from audit.services import Actor
from billing.months import month_format, month_latest_closable, month_start
from billing.services import month_close
from tests.browser.conftest import ARTIFACTS
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-partner-password-1"
LINK = re.compile(r"https?://\S+/portal/invitations/[A-Za-z0-9_-]+/")


def api(live_server, path, raw_key, method="GET", body=None):
    request = urllib.request.Request(
        f"{live_server.url}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def shoot(page, name):
    """The page at a desktop's width and a phone's, full length, into test-artifacts/."""
    folder = ARTIFACTS / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        # Usable on a phone: nothing wider than the screen but the tables' own scrolling boxes.
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{name} scrolls sideways at {width}px"
    page.set_viewport_size({"width": 1280, "height": 900})


def join(browser, live_server, link, email):
    """A person opens the e-mailed link in their own browser, sets a password and signs in."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(link.replace("http://127.0.0.1:8000", live_server.url))
    page.fill("#id_password", PASSWORD)
    page.fill("#id_password_again", PASSWORD)
    page.click("button:has-text('Set password')")
    page.wait_for_url("**/portal/login/")
    assert page.input_value("#id_email") == email
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/portal/")
    return context, page


def test_the_partner_portal_from_invitation_to_invoice(logged_in, browser, live_server, settings, tmp_path):
    settings.PUBLIC_BASE_URL = live_server.url
    host = HostFactory(company_name="Portal Hosting", contact_email="owner@portal.test")
    month = month_latest_closable()
    HostLicenseFactory(host=host, server_identifier="old-box", provisioned_at=month_start(month) - timedelta(days=3))
    month_close(month=month, actor=Actor.command("tests"))
    invoice = host.invoices.get()

    # Staff invite the first owner from the admin.
    staff = logged_in
    staff.goto(f"{live_server.url}/admin/hosts/host/")
    staff.check(f"input[name=_selected_action][value='{host.pk}']")
    staff.select_option("select[name=action]", "invite_partner_owner")
    staff.click("button[name=index]")
    staff.wait_for_selector("text=Invitation e-mailed")
    link = LINK.search(mail.outbox[-1].body).group(0)
    assert mail.outbox[-1].to == ["owner@portal.test"]

    context, page = join(browser, live_server, link, "owner@portal.test")
    assert "Portal Hosting" in page.inner_text("main")
    shoot(page, "01-dashboard")

    # A live key, shown once.
    page.goto(f"{live_server.url}/portal/keys/")
    page.fill("#id_name", "provisioning robot")
    page.click("button:has-text('Issue key')")
    raw_key = page.inner_text("#new-key").strip()
    assert raw_key.startswith("crn_")
    shoot(page, "02-key-shown-once")
    page.reload()
    assert raw_key not in page.content()
    shoot(page, "03-keys")

    # A webhook endpoint: its signing secret is shown once too.
    settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    page.goto(f"{live_server.url}/portal/webhooks/")
    page.fill("#id_url", "http://127.0.0.1:9/hooks")
    page.click("button:has-text('Add endpoint')")
    assert page.inner_text("#new-secret").startswith("whsec_")
    shoot(page, "03b-webhook-secret-once")
    page.goto(f"{live_server.url}/portal/webhooks/")
    shoot(page, "03c-webhooks")

    status, body = api(
        live_server,
        "/api/host/provision",
        raw_key,
        "POST",
        {"server_id": "rust-portal-01", "hostname": "play.portal.test", "customer_email": "gamer@portal.test"},
    )
    assert status == 201
    license_id = body["id"]

    page.goto(f"{live_server.url}/portal/licenses/")
    page.click("text=rust-portal-01")
    page.wait_for_url(f"**/portal/licenses/{license_id}/")
    assert "Status history" in page.inner_text("main")
    shoot(page, "04-licenses-then-license")
    page.goto(f"{live_server.url}/portal/licenses/")
    shoot(page, "05-licenses")

    page.goto(f"{live_server.url}/portal/licenses/{license_id}/")
    page.click("a:has-text('Suspend')")
    shoot(page, "06-suspend-confirmation")
    page.click("button:has-text('Suspend')")
    page.wait_for_url(f"**/portal/licenses/{license_id}/")
    assert api(live_server, f"/api/host/licenses/{license_id}", raw_key)[1]["status"] == "suspended"
    shoot(page, "07-license-suspended")

    # The bill's CSV and the invoice's PDF.
    page.goto(f"{live_server.url}/portal/bills/")
    shoot(page, "08-bills")
    page.goto(f"{live_server.url}/portal/bills/{month_format(month)}/")
    shoot(page, "09-bill")
    with page.expect_download() as csv_download:
        page.click("a:has-text('Download CSV')")
    csv_path = tmp_path / "bill.csv"
    csv_download.value.save_as(csv_path)
    assert "old-box" in csv_path.read_text()

    page.goto(f"{live_server.url}/portal/invoices/")
    shoot(page, "10-invoices")
    page.goto(f"{live_server.url}/portal/invoices/{invoice.number}/")
    shoot(page, "11-invoice")
    with page.expect_download() as pdf_download:
        page.click("a:has-text('Download PDF')")
    pdf_path = tmp_path / "invoice.pdf"
    pdf_download.value.save_as(pdf_path)
    assert pdf_download.value.suggested_filename == f"{invoice.number}.pdf"
    assert pdf_path.read_bytes().startswith(b"%PDF")

    # The owner invites a member, who cannot open the keys page.
    page.goto(f"{live_server.url}/portal/team/")
    page.fill("#id_email", "member@portal.test")
    page.click("button:has-text('Invite')")
    page.wait_for_selector("text=Invitation e-mailed")
    shoot(page, "12-team")
    member_link = LINK.search(mail.outbox[-1].body).group(0)
    member_context, member = join(browser, live_server, member_link, "member@portal.test")
    response = member.goto(f"{live_server.url}/portal/keys/")
    assert response.status == 403
    shoot(member, "13-member-on-keys")

    page.click("button:has-text('Switch to test')")
    shoot(page, "14-test-mode")
    member_context.close()
    context.close()


def test_the_sign_in_page_at_both_widths(page, live_server, transactional_db):
    page.goto(f"{live_server.url}/portal/login/")
    shoot(page, "00-login")
