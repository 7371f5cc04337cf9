"""The staff's key flows, clicked through in a real browser."""

import csv
import json
import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from audit.services import Actor
from billing.months import month_format, month_latest_closable, month_start
from billing.services import month_close
from hosts.services import host_create
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = re.compile(r"^crn_[a-z0-9]{8}_[A-Za-z0-9]{43,}$")


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


def test_create_a_host_read_its_key_once_and_use_it(logged_in, live_server, screenshot):
    page = logged_in
    page.goto(f"{live_server.url}/admin/hosts/host/add/")
    page.fill("#id_company_name", "Browser Hosting")
    page.fill("#id_contact_email", "ops@browser.test")
    page.fill("#id_wholesale_rate_usd", "5.00")
    screenshot("1-add-form")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("input[name=_save]")
    assert posted.value.status == 302  # the key is on the page redirected to, not in the POST's answer

    raw_key = page.inner_text("#raw-api-key").strip()
    assert KEY.match(raw_key)
    assert "only time this API key is shown" in page.content()
    assert "/key/" in page.url
    screenshot("2-key-shown-once")

    status, body = api(live_server, "/api/host/licenses", raw_key)
    assert (status, body["results"]) == (200, [])

    # A reload asks for the page again (no form is posted again) and the key is gone.
    key_page = page.url
    response = page.reload()
    assert response.request.method == "GET"
    assert "no-store" in response.headers["cache-control"]
    secret = raw_key.split("_")[2]
    assert secret not in page.content()
    assert page.locator("#key-gone").is_visible()
    assert page.url == key_page
    screenshot("3-key-gone-after-reload")
    from hosts.models import Host

    assert Host.objects.count() == 1  # the reload created nothing

    page.click("text=Back to Browser Hosting")
    page.wait_for_selector("#host_form")
    screenshot("4-host-page")
    assert secret not in page.content()
    page.go_back()
    assert secret not in page.content()
    page.goto(f"{live_server.url}/admin/hosts/hostapikey/")
    assert raw_key.split("_")[1] in page.content()
    assert secret not in page.content()


def test_issue_a_new_key_from_the_host_list_shows_it_once(logged_in, live_server, screenshot):
    page = logged_in
    host, _ = host_create(company_name="Rotate Hosting", contact_email="ops@rotate.test", actor=Actor.command("tests"))
    page.goto(f"{live_server.url}/admin/hosts/host/")
    page.check("input.action-select")
    page.select_option("select[name=action]", "issue_api_key")
    page.click("button[name=index]")
    raw_key = page.inner_text("#raw-api-key").strip()
    assert KEY.match(raw_key)
    screenshot("1-new-key")
    assert api(live_server, "/api/host/licenses", raw_key)[0] == 200
    page.reload()
    assert raw_key.split("_")[2] not in page.content()
    assert page.locator("#key-gone").is_visible()
    assert host.api_keys.count() == 2  # the reload issued no third key


def test_suspend_a_license_in_the_admin_and_the_api_reports_it(logged_in, live_server, screenshot):
    page = logged_in
    _, issued = host_create(
        company_name="Suspend Hosting", contact_email="ops@suspend.test", actor=Actor.command("tests")
    )
    status, created = api(
        live_server,
        "/api/host/provision",
        issued.raw_key,
        method="POST",
        body={"server_id": "rust-browser-01", "hostname": "play.browser.test", "customer_email": "gamer@example.test"},
    )
    assert status == 201

    page.goto(f"{live_server.url}/admin/licensing/hostlicense/?q=rust-browser-01")
    page.check("input.action-select")
    page.select_option("select[name=action]", "suspend")
    screenshot("1-action-chosen")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    assert "Suspended 1 license(s)." in page.inner_text("ul.messagelist")
    screenshot("2-suspended")

    status, body = api(live_server, f"/api/host/licenses/{created['id']}", issued.raw_key)
    assert (status, body["status"]) == (200, "suspended")


def _closed_month_with_bills():
    """A month that can be closed now, with two hosts' servers billed in it, closed."""
    month = month_latest_closable()
    provisioned = month_start(month) + timedelta(days=1)
    for company, servers in (("Alpha Hosting", 3), ("Beta Hosting", 1)):
        host = HostFactory(company_name=company)
        for n in range(servers):
            HostLicenseFactory(host=host, server_identifier=f"rust-{n}", provisioned_at=provisioned)
    month_close(month=month, actor=Actor.command("tests"))
    return month


def test_export_billing_csv_from_the_admin(logged_in, live_server, screenshot, tmp_path):
    page = logged_in
    month = _closed_month_with_bills()
    page.goto(f"{live_server.url}/admin/billing/billingrecord/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "export_csv")
    screenshot("1-records")
    with page.expect_download() as download_info:
        page.click("button[name=index]")
    download = download_info.value
    assert download.suggested_filename == f"corrosion-billing-{month_format(month)}.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [(r["company_name"], r["active_license_count"], r["total_amount_usd"]) for r in rows] == [
        ("Alpha Hosting", "3", "18.00"),
        ("Beta Hosting", "1", "6.00"),
    ]
    assert {r["month"] for r in rows} == {month_format(month)}


def test_the_billing_overview_shows_the_chart(logged_in, live_server, screenshot):
    page = logged_in
    month = _closed_month_with_bills()
    page.goto(f"{live_server.url}/admin/billing/billingmonth/")
    page.click("text=Billing overview")
    chart = page.locator("#revenue-chart")
    chart.wait_for()
    assert chart.is_visible()
    assert page.locator("#revenue-chart g.bar").count() == 12
    assert page.locator(f"#revenue-chart title:text('{month_format(month)}: 4 servers, 24.00 USD')").count() == 1
    box = page.locator("#revenue-chart rect").last.bounding_box()
    assert box is not None and box["height"] > 0
    screenshot("overview")
