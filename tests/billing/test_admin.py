"""The billing pages of the admin: read-only records, CSV export, closing a month, the overview."""

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import Actor
from billing.models import BillingMonth, BillingRecord
from billing.services import month_close
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MAY = date(2026, 5, 1)
CLOSE_URL = "/admin/billing/billingmonth/close/"


def bill_servers(host, count, month=5):
    for n in range(count):
        HostLicenseFactory(host=host, server_identifier=f"rust-{n:03d}", provisioned_at=at(2026, month, 2))


def closed_may():
    acme = HostFactory(company_name="Acme Hosting")
    zeta = HostFactory(company_name="Zeta Hosting")
    bill_servers(acme, 3)
    bill_servers(zeta, 1)
    month_close(month=MAY, actor=Actor.command("tests"))
    return acme, zeta


def test_records_are_listed_read_only_with_their_lines(staff_client):
    acme, _ = closed_may()
    record = BillingRecord.objects.get(host=acme)
    assert "Acme Hosting" in staff_client.get("/admin/billing/billingrecord/").content.decode()
    html = staff_client.get(f"/admin/billing/billingrecord/{record.pk}/change/").content.decode()
    assert html.count("rust-00") == 3
    assert staff_client.get(f"/admin/billing/billingrecord/{record.pk}/delete/").status_code == 403
    assert staff_client.get("/admin/billing/billingrecord/add/").status_code == 403
    response = staff_client.post(f"/admin/billing/billingrecord/{record.pk}/change/", {"total_amount_usd": "0"})
    assert response.status_code == 403


def test_the_export_action_streams_the_selected_records_as_csv(staff_client):
    closed_may()
    ids = [str(pk) for pk in BillingRecord.objects.values_list("pk", flat=True)]
    response = staff_client.post("/admin/billing/billingrecord/", {"action": "export_csv", "_selected_action": ids})
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="corrosion-billing-2026-05.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "month",
        "company_name",
        "contact_email",
        "active_license_count",
        "wholesale_rate_usd",
        "total_amount_usd",
    ]
    assert [(r[1], r[3], r[5]) for r in rows[1:]] == [("Acme Hosting", "3", "18.00"), ("Zeta Hosting", "1", "6.00")]


def test_the_export_action_never_writes_a_live_formula(staff_client):
    host = HostFactory(company_name="=cmd|' /C calc'!A0", contact_email="-ops@evil.test")
    bill_servers(host, 1)
    month_close(month=MAY, actor=Actor.command("tests"))
    ids = [str(BillingRecord.objects.get(host=host).pk)]
    response = staff_client.post("/admin/billing/billingrecord/", {"action": "export_csv", "_selected_action": ids})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1] == ["2026-05", "'=cmd|' /C calc'!A0", "'-ops@evil.test", "1", "6.00", "6.00"]


def test_closing_a_month_previews_first_then_closes(staff_client):
    acme = HostFactory(company_name="Acme Hosting")
    bill_servers(acme, 2)
    page = staff_client.get(CLOSE_URL).content.decode()
    assert 'value="2026-05"' in page

    preview = staff_client.post(CLOSE_URL, {"month": "2026-05"}).content.decode()
    assert "Preview (nothing written)" in preview
    assert "12.00" in preview
    assert not BillingMonth.objects.exists()

    closed = staff_client.post(CLOSE_URL, {"month": "2026-05", "confirm": "1"}).content.decode()
    assert "Closed" in closed
    assert BillingRecord.objects.get().total_amount_usd == 12
    assert BillingMonth.objects.get().closed_by == "staff:staff"

    again = staff_client.post(CLOSE_URL, {"month": "2026-05", "confirm": "1"}).content.decode()
    assert "already closed" in again
    assert BillingRecord.objects.count() == 1


@pytest.mark.parametrize(("month", "message"), [("2026-06", "cannot be closed before"), ("2026-13", "")])
def test_a_month_that_cannot_be_closed_is_refused_on_the_page(staff_client, month, message):
    html = staff_client.post(CLOSE_URL, {"month": month, "confirm": "1"}).content.decode()
    assert "errorlist" in html
    assert message in html
    assert not BillingMonth.objects.exists()


def test_support_staff_without_the_billing_permissions_get_403(support_client):
    closed_may()
    assert support_client.get("/admin/billing/billingrecord/").status_code == 200
    assert support_client.get("/admin/billing/billingmonth/overview/").status_code == 200
    assert support_client.get(CLOSE_URL).status_code == 403
    assert support_client.post(CLOSE_URL, {"month": "2026-04", "confirm": "1"}).status_code == 403
    ids = [str(pk) for pk in BillingRecord.objects.values_list("pk", flat=True)]
    response = support_client.post("/admin/billing/billingrecord/", {"action": "export_csv", "_selected_action": ids})
    assert response.status_code == 403
    assert not BillingMonth.objects.filter(month=date(2026, 4, 1)).exists()


def test_the_overview_draws_a_chart_of_the_last_12_months_and_the_open_month(staff_client):
    closed_may()
    bill_servers(HostFactory(), 2, month=6)
    html = staff_client.get("/admin/billing/billingmonth/overview/").content.decode()
    assert '<svg id="revenue-chart"' in html
    assert html.count('<g class="bar">') == 12
    assert "2026-05: 4 servers, 24.00 USD" in html
    assert "6 billable servers, 36.00 USD" in html  # June, live: May's four servers are still held


@pytest.mark.parametrize(
    "page",
    ["/admin/billing/billingrecord/", "/admin/billing/billingmonth/", "/admin/billing/billingmonth/overview/"],
)
def test_billing_list_pages_query_counts_do_not_grow(staff_client, page):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(page).status_code == 200
        return len(captured)

    closed_may()
    small = queries()
    for n in range(20):
        bill_servers(HostFactory(company_name=f"Bulk {n}"), 2, month=4)
    month_close(month=date(2026, 4, 1), actor=Actor.command("tests"))
    assert queries() == small
