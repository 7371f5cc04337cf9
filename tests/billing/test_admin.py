"""The billing pages of the admin: read-only records, CSV export, closing a month, the overview."""

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import Actor
from billing.models import BillingMonth, BillingRecord
from billing.services import month_close
from tests.admin_pages import messages_of
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MAY = date(2026, 5, 1)
APRIL = date(2026, 4, 1)
CLOSE_URL = "/admin/billing/billingmonth/close/"
TOKEN = re.compile(r'name="previewed" value="([^"]+)"')


def preview(client, month):
    """Preview `month` on the close page; the page and the token its close button carries."""
    response = client.post(CLOSE_URL, {"month": month, "preview": "Preview"})
    html = response.content.decode()
    assert f"Preview of {month} (nothing written)" in html
    assert f'value="Close {month} now"' in html
    return html, TOKEN.search(html).group(1)


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
        "invoice_number",
        "company_name",
        "contact_email",
        "active_license_count",
        "wholesale_rate_usd",
        "total_amount_usd",
    ]
    assert [(r[1], r[2], r[4], r[6]) for r in rows[1:]] == [
        ("INV-2026-00001", "Acme Hosting", "3", "18.00"),
        ("INV-2026-00002", "Zeta Hosting", "1", "6.00"),
    ]


def test_the_export_action_never_writes_a_live_formula(staff_client):
    host = HostFactory(company_name="=cmd|' /C calc'!A0", contact_email="-ops@evil.test")
    bill_servers(host, 1)
    month_close(month=MAY, actor=Actor.command("tests"))
    ids = [str(BillingRecord.objects.get(host=host).pk)]
    response = staff_client.post("/admin/billing/billingrecord/", {"action": "export_csv", "_selected_action": ids})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1] == ["2026-05", "INV-2026-00001", "'=cmd|' /C calc'!A0", "'-ops@evil.test", "1", "6.00", "6.00"]


def test_closing_a_month_previews_first_then_closes(staff_client):
    acme = HostFactory(company_name="Acme Hosting")
    bill_servers(acme, 2)
    page = staff_client.get(CLOSE_URL)
    assert 'value="2026-05"' in page.content.decode()
    assert "Close 2026-05 now" not in page.content.decode()  # nothing to confirm before a preview

    html, token = preview(staff_client, "2026-05")
    assert "12.00" in html
    assert not BillingMonth.objects.exists()

    response = staff_client.post(CLOSE_URL, {"month": "2026-05", "previewed": token, "confirm": "Close 2026-05 now"})
    assert "Closed 2026-05" in response.content.decode()
    assert messages_of(response) == [("success", "Closed 2026-05: 1 host, 2 servers, 12.00 USD; issued 1 invoice.")]
    assert BillingRecord.objects.get().total_amount_usd == 12
    assert BillingMonth.objects.get().closed_by == "staff:staff"

    again = staff_client.post(CLOSE_URL, {"month": "2026-05", "previewed": token, "confirm": "Close 2026-05 now"})
    assert "already closed" in again.content.decode()
    assert BillingRecord.objects.count() == 1


def test_the_close_button_closes_the_month_previewed_never_the_one_typed_after(staff_client):
    bill_servers(HostFactory(company_name="Acme Hosting"), 2, month=4)  # April and May can be closed
    _, may_token = preview(staff_client, "2026-05")

    # The field now says April, the button still says May: neither is closed, April is previewed.
    response = staff_client.post(
        CLOSE_URL, {"month": "2026-04", "previewed": may_token, "confirm": "Close 2026-05 now"}
    )
    html = response.content.decode()
    assert not BillingMonth.objects.exists()
    assert "Preview of 2026-04 (nothing written)" in html
    assert 'value="Close 2026-04 now"' in html
    assert [level for level, _ in messages_of(response)] == ["warning"]
    assert "Nothing was closed: 2026-04 is not the month previewed" in messages_of(response)[0][1]

    april_token = TOKEN.search(html).group(1)
    staff_client.post(CLOSE_URL, {"month": "2026-04", "previewed": april_token, "confirm": "Close 2026-04 now"})
    assert list(BillingMonth.objects.values_list("month", flat=True)) == [APRIL]


@pytest.mark.parametrize(
    "previewed",
    [None, "", "2026-05", "not:a:token", "eyJtb250aCI6IjIwMjYtMDUiLCJ1c2VyIjoxfQ:forged:signature"],
)
def test_a_confirmation_without_a_genuine_preview_only_previews(staff_client, previewed):
    bill_servers(HostFactory(), 1)
    data = {"month": "2026-05", "confirm": "Close 2026-05 now"}
    if previewed is not None:
        data["previewed"] = previewed
    response = staff_client.post(CLOSE_URL, data)
    assert response.status_code == 200
    assert "Preview of 2026-05 (nothing written)" in response.content.decode()
    assert not BillingMonth.objects.exists()


def test_a_preview_is_confirmed_by_its_own_user_within_30_minutes(staff_client, frozen, client):
    from django.contrib.auth import get_user_model

    bill_servers(HostFactory(), 1)
    _, token = preview(staff_client, "2026-05")
    other = get_user_model().objects.create_superuser("other", "other@corrosion.test", "other-password-for-tests")
    client.force_login(other)  # the same client as staff_client: it now acts as another user
    response = client.post(CLOSE_URL, {"month": "2026-05", "previewed": token, "confirm": "x"})
    assert "Nothing was closed" in messages_of(response)[0][1]
    assert not BillingMonth.objects.exists()

    client.force_login(get_user_model().objects.get(username="staff"))
    frozen.shift(timedelta(minutes=31))
    stale = client.post(CLOSE_URL, {"month": "2026-05", "previewed": token, "confirm": "x"})
    assert "or the preview is over 30 minutes old" in messages_of(stale)[0][1]
    assert not BillingMonth.objects.exists()


@pytest.mark.parametrize(
    ("month", "message"),
    [("2026-06", "cannot be closed before"), ("2026-13", "is not a month"), ("", "required"), ("x" * 1000, "")],
)
@pytest.mark.parametrize("button", ["preview", "confirm"])
def test_a_month_that_cannot_be_closed_is_refused_on_the_page(staff_client, month, message, button):
    response = staff_client.post(CLOSE_URL, {"month": month, button: "1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "errorlist" in html
    assert message in html
    assert 'name="confirm"' not in html
    assert not BillingMonth.objects.exists()


def test_support_staff_without_the_billing_permissions_get_403(support_client):
    closed_may()
    assert support_client.get("/admin/billing/billingrecord/").status_code == 200
    assert support_client.get("/admin/billing/billingmonth/overview/").status_code == 200
    assert support_client.get(CLOSE_URL).status_code == 403
    assert support_client.post(CLOSE_URL, {"month": "2026-04", "confirm": "1"}).status_code == 403
    assert support_client.post(CLOSE_URL, {"month": "2026-04", "preview": "1"}).status_code == 403
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


def test_the_overview_tells_a_month_never_closed_from_one_closed_with_nothing_billed(staff_client):
    closed_may()
    month_close(month=date(2026, 3, 1), actor=Actor.command("tests"))  # nothing billable in March
    html = staff_client.get("/admin/billing/billingmonth/overview/").content.decode()
    rows = dict(re.findall(r"<tr class=\"[a-z-]+\"><td>(\d{4}-\d\d)</td><td>([^<]+)</td>", html))
    assert rows["2026-05"] == "closed"
    assert rows["2026-03"] == "closed, nothing billed"
    assert rows["2026-04"] == "not closed"
    assert "2026-03: 0 servers, 0.00 USD" in html
    assert "2026-04: not closed" in html
    assert re.search(r'<tr class="never-closed"><td>2026-04</td><td>not closed</td><td>—</td><td>—</td></tr>', html)


def test_the_records_month_filter_lists_the_months_present(staff_client):
    closed_may()
    bill_servers(HostFactory(company_name="April Only"), 1, month=4)
    month_close(month=APRIL, actor=Actor.command("tests"))
    html = staff_client.get("/admin/billing/billingrecord/").content.decode()
    assert re.findall(r'href="\?month=(\d{4}-\d\d)"', html) == ["2026-05", "2026-04"]
    assert "Past 7 days" not in html
    filtered = staff_client.get("/admin/billing/billingrecord/?month=2026-04").content.decode()
    rows = re.findall(r'<td class="field-host nowrap">([^<]+)</td>', filtered)
    assert rows == ["April Only"]
    for bad in ("2026-13", "garbage", "2026-04\n"):
        response = staff_client.get("/admin/billing/billingrecord/", {"month": bad})
        assert response.status_code == 302
        assert response["Location"].endswith("?e=1")


def test_the_admin_index_is_branded_and_links_the_billing_pages(staff_client):
    html = staff_client.get("/admin/").content.decode()
    assert "Corrosion administration" in html
    assert "Django administration" not in html
    assert "<title>Partner licensing and billing | Corrosion admin</title>" in html
    assert 'href="/admin/billing/billingmonth/overview/"' in html
    assert 'href="/admin/billing/billingmonth/close/"' in html


def test_the_index_links_only_the_billing_pages_the_user_may_open(support_client):
    support = support_client.get("/admin/").content.decode()
    assert "Corrosion administration" in support
    assert 'href="/admin/billing/billingmonth/overview/"' in support
    assert 'href="/admin/billing/billingmonth/close/"' not in support  # no permission, no link


def test_records_cannot_be_deleted_in_the_admin(staff_client):
    closed_may()
    ids = [str(pk) for pk in BillingRecord.objects.values_list("pk", flat=True)]
    response = staff_client.post(
        "/admin/billing/billingrecord/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
        follow=True,
    )
    assert BillingRecord.objects.count() == 2
    assert messages_of(response) == [
        ("error", "Billing records are never deleted here: a closed month's bills never change.")
    ]
    month = BillingMonth.objects.get()
    response = staff_client.post(
        "/admin/billing/billingmonth/",
        {"action": "delete_selected", "_selected_action": [str(month.pk)], "post": "yes"},
        follow=True,
    )
    assert BillingMonth.objects.filter(pk=month.pk).exists()
    assert messages_of(response) == [("error", "Billing months are never deleted here: a closed month stays closed.")]


@pytest.mark.parametrize("selected", [["not-a-uuid"], ["1", "2"], ["\x00"], ["'; DROP TABLE hosts; --"]])
def test_the_export_of_a_selection_that_is_no_id_is_a_message_not_a_500(staff_client, selected):
    closed_may()
    ids = [*selected, str(BillingRecord.objects.first().pk)]
    response = staff_client.post("/admin/billing/billingrecord/", {"action": "export_csv", "_selected_action": ids})
    assert response.status_code == 302
    page = staff_client.get(response["Location"])
    assert messages_of(page) == [("error", "The selection is not valid: select the rows on the list again.")]


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
