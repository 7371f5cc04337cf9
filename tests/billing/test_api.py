"""GET /api/host/billing and /api/host/billing/{YYYY-MM}, in JSON and CSV."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import Actor
from billing.services import month_close
from licensing.models import LicenseStatus
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MAY = date(2026, 5, 1)


def close_month(month=MAY):
    return month_close(month=month, actor=Actor.command("tests"))


def servers(host, count, month=5, prefix="rust"):
    return [
        HostLicenseFactory(host=host, server_identifier=f"{prefix}-{n:03d}", provisioned_at=at(2026, month, 2))
        for n in range(count)
    ]


def csv_rows(response):
    assert response.streaming is True
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_a_closed_month_reads_its_record_and_lines(host, host_client):
    terminated = HostLicenseFactory(
        host=host,
        server_identifier="rust-b",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 4, 1, 10, 30),
        terminated_at=at(2026, 5, 20, 8),
    )
    HostLicenseFactory(host=host, server_identifier="rust-a", provisioned_at=at(2026, 5, 2))
    close_month()

    response = host_client.get("/api/host/billing/2026-05")

    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in body if key != "lines"} == {
        "month": "2026-05",
        "status": "closed",
        "active_license_count": 2,
        "wholesale_rate_usd": "6.00",
        "total_amount_usd": "12.00",
        "waived_lines": [],
        "invoice": "INV-2026-00001",  # issued by the close
    }
    assert [line["server_id"] for line in body["lines"]] == ["rust-a", "rust-b"]
    assert body["lines"][1] == {
        "server_id": "rust-b",
        "license_id": str(terminated.license_id),
        "license_key": terminated.license.license_key,
        "hostname": terminated.license.hostname,
        "customer_email": terminated.customer_email,
        "status": "terminated",
        "provisioned_at": "2026-04-01T10:30:00Z",
        "terminated_at": "2026-05-20T08:00:00Z",
    }


def test_a_closed_month_does_not_change_when_licenses_do(host, host_client):
    (host_license,) = servers(host, 1)
    close_month()
    before = host_client.get("/api/host/billing/2026-05").json()
    host_license.license.hostname = "renamed.example.test"
    host_license.license.save()
    HostLicenseFactory(host=host, server_identifier="late", provisioned_at=at(2026, 5, 30))
    assert host_client.get("/api/host/billing/2026-05").json() == before


def test_an_unclosed_month_is_computed_live_and_marked_open(host, host_client):
    servers(host, 3, month=6)
    body = host_client.get("/api/host/billing/2026-06").json()
    assert body["status"] == "open"
    assert body["active_license_count"] == 3
    assert body["total_amount_usd"] == "18.00"
    assert len(body["lines"]) == 3


def test_a_closed_month_with_nothing_billable_reads_closed_with_zeros(host, host_client):
    servers(HostFactory(), 2)
    close_month()
    body = host_client.get("/api/host/billing/2026-05").json()
    assert body == {
        "month": "2026-05",
        "status": "closed",
        "active_license_count": 0,
        "wholesale_rate_usd": "6.00",
        "total_amount_usd": "0.00",
        "lines": [],
        "waived_lines": [],
        "invoice": None,
    }


def test_the_open_preview_equals_the_record_closing_writes_later(host, host_client, frozen):
    servers(host, 2)
    HostLicenseFactory(
        host=host, server_identifier="paused", status=LicenseStatus.SUSPENDED, provisioned_at=at(2026, 1, 9)
    )
    HostLicenseFactory(
        host=host,
        server_identifier="mistake",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 5, 31, 22),
        terminated_at=at(2026, 6, 1, 6),
    )
    frozen.move_to(at(2026, 6, 2, 9), tick=False)
    preview = host_client.get("/api/host/billing/2026-05").json()
    preview_csv = csv_rows(host_client.get("/api/host/billing/2026-05?format=csv"))

    frozen.move_to(at(2026, 6, 4, 0, 30), tick=False)
    close_month()
    closed = host_client.get("/api/host/billing/2026-05").json()
    closed_csv = csv_rows(host_client.get("/api/host/billing/2026-05?format=csv"))

    assert (preview.pop("status"), closed.pop("status")) == ("open", "closed")
    assert (preview.pop("invoice"), closed.pop("invoice")) == (None, "INV-2026-00001")
    assert preview == closed
    assert preview["active_license_count"] == 3
    assert preview_csv == closed_csv


@pytest.mark.parametrize(
    "month",
    [
        "2026-13",
        "2026-00",
        "abc",
        "2026-5",
        "202605",
        "1969-12",
        "0000-01",
        "9999-99",
        "2026-05-01",
        " 2026-05",
        "2026-05%20",
        "2026-05%0A",  # a trailing newline passed the month's `$` and read as 2026-05
        "\u0662\u0660\u0662\u0666-05",  # Arabic-Indic digits passed `\\d` and read as 2026-05
        "%00",
        "2026-05%00",
        "'; DROP TABLE host_billing_records; --",
        "<img src=x onerror=alert(1)>",
    ],
)
def test_a_malformed_month_is_400(host_client, month):
    response = host_client.get(f"/api/host/billing/{month}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "invalid"
    assert list(body["error"]["fields"]) == ["month"]


def test_a_future_month_is_400(host_client):
    response = host_client.get("/api/host/billing/2026-07")
    assert response.status_code == 400
    assert "has not started" in response.json()["error"]["fields"]["month"][0]


def test_the_current_month_is_readable(host_client):
    assert host_client.get("/api/host/billing/2026-06").json()["status"] == "open"


@pytest.mark.parametrize(
    "path", ["/api/host/billing", "/api/host/billing/2026-05", "/api/host/billing/2026-05?format=csv"]
)
def test_without_a_key_it_is_401_json(anon_client, path):
    response = anon_client.get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_another_host_never_sees_this_hosts_bill(host, other_host_client):
    servers(host, 2)
    close_month()
    body = other_host_client.get("/api/host/billing/2026-05").json()
    assert (body["active_license_count"], body["lines"], body["waived_lines"]) == (0, [], [])
    listed = other_host_client.get("/api/host/billing").json()["results"]
    assert [(item["month"], item["active_license_count"]) for item in listed] == [("2026-05", 0)]


def test_csv_by_query_parameter_streams_an_attachment(host, host_client):
    (host_license,) = servers(host, 1)
    close_month()
    response = host_client.get("/api/host/billing/2026-05?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="corrosion-billing-2026-05.csv"'
    assert csv_rows(response) == [
        [
            "month",
            "server_id",
            "license_id",
            "license_key",
            "hostname",
            "customer_email",
            "status",
            "provisioned_at",
            "terminated_at",
            "wholesale_rate_usd",
        ],
        [
            "2026-05",
            "rust-000",
            str(host_license.license_id),
            host_license.license.license_key,
            host_license.license.hostname,
            host_license.customer_email,
            "active",
            "2026-05-02T00:00:00Z",
            "",
            "6.00",
        ],
    ]


def test_csv_by_accept_header(host, host_client):
    servers(host, 2)
    response = host_client.get("/api/host/billing/2026-06", HTTP_ACCEPT="text/csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="corrosion-billing-2026-06.csv"'
    rows = csv_rows(response)
    assert len(rows) == 3
    assert {row[1] for row in rows[1:]} == {"rust-000", "rust-001"}


def test_csv_sums_to_the_bills_total(host, host_client):
    servers(host, 3)
    close_month()
    rows = csv_rows(host_client.get("/api/host/billing/2026-05?format=csv"))
    total = sum(Decimal(row[-1]) for row in rows[1:])
    assert total == Decimal(host_client.get("/api/host/billing/2026-05").json()["total_amount_usd"])


def test_an_error_is_json_even_when_csv_was_asked_for(host_client):
    response = host_client.get("/api/host/billing/2026-13", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["fields"]["month"]


def _month_queries(client, path):
    client.get(path)  # the first request of a key also records its last use
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
        if response.streaming:
            b"".join(response.streaming_content)
    return len(queries)


def mistakes(host, count, month, prefix="oops"):
    """`count` servers each held an hour in 2026-`month`: waived."""
    return [
        HostLicenseFactory(
            host=host,
            server_identifier=f"{prefix}-{n:03d}",
            status=LicenseStatus.TERMINATED,
            provisioned_at=at(2026, month, 3),
            terminated_at=at(2026, month, 3, 1),
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_month_endpoint_query_count_does_not_grow_with_lines_or_waived_lines(host, host_client, fmt):
    servers(host, 1, month=3)
    mistakes(host, 1, month=3)
    servers(host, 40, month=4, prefix="big")
    mistakes(host, 30, month=4)
    close_month(date(2026, 3, 1))
    close_month(date(2026, 4, 1))
    closed_small = _month_queries(host_client, f"/api/host/billing/2026-03?format={fmt}")
    closed_large = _month_queries(host_client, f"/api/host/billing/2026-04?format={fmt}")
    servers(host, 2, month=6, prefix="june")
    mistakes(host, 25, month=6)
    open_small = _month_queries(host_client, f"/api/host/billing/2026-05?format={fmt}")
    open_large = _month_queries(host_client, f"/api/host/billing/2026-06?format={fmt}")
    # The CSV lists what is billed, so it never reads the waived lines.
    waived = 1 if fmt == "json" else 0
    assert closed_small == closed_large == 3 + waived  # key, record with its invoice, lines (, waived lines)
    # key, record, register, rate, count, servers (, waived servers): the count is its own query
    # (it was the length of a list of every line) so an open month's lines stream in constant memory.
    assert open_small == open_large == 6 + waived


def test_the_list_shows_closed_months_newest_first_with_pages(host, host_client):
    servers(host, 1, month=2)
    for month in (2, 3, 4, 5):
        close_month(date(2026, month, 1))

    first = host_client.get("/api/host/billing?page_size=3").json()
    assert [item["month"] for item in first["results"]] == ["2026-05", "2026-04", "2026-03"]
    assert first["results"][0] == {
        "month": "2026-05",
        "status": "closed",
        "active_license_count": 1,
        "wholesale_rate_usd": "6.00",
        "total_amount_usd": "6.00",
        "generated_at": "2026-06-10T12:00:00Z",
        "invoice": "INV-2026-00004",  # February's close issued 00001, so May's is the fourth
    }
    second = host_client.get(first["next"]).json()
    assert [item["month"] for item in second["results"]] == ["2026-02"]
    assert second["next"] is None
    back = host_client.get(second["previous"]).json()
    assert [item["month"] for item in back["results"]] == ["2026-05", "2026-04", "2026-03"]


def test_the_list_refuses_a_bad_cursor(host_client):
    response = host_client.get("/api/host/billing?cursor=bm9wZQ")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"cursor": ["Invalid cursor."]}


def test_the_schema_documents_both_endpoints(anon_client):
    schema = anon_client.get("/api/schema/?format=json")
    text = schema.content.decode()
    assert schema.status_code == 200
    assert '"billing_list"' in text
    assert '"billing_retrieve"' in text
    assert "text/csv" in text


def test_the_csv_never_holds_a_live_formula_though_the_json_keeps_the_values_verbatim(host_client):
    hostile = {"server_id": '=HYPERLINK("https://evil.example")', "hostname": "@SUM(A1:A9)"}
    provisioned = host_client.post(
        "/api/host/provision", {**hostile, "customer_email": "+cmd@evil.test"}, format="json"
    ).json()
    assert (provisioned["server_id"], provisioned["hostname"]) == (hostile["server_id"], hostile["hostname"])
    [line] = host_client.get("/api/host/billing/2026-06").json()["lines"]
    assert (line["server_id"], line["hostname"], line["customer_email"]) == (*hostile.values(), "+cmd@evil.test")

    header, row = csv_rows(host_client.get("/api/host/billing/2026-06?format=csv"))
    cells = dict(zip(header, row, strict=True))
    assert cells["server_id"] == "'" + hostile["server_id"]
    assert cells["hostname"] == "'" + hostile["hostname"]
    assert cells["customer_email"] == "'+cmd@evil.test"
    assert cells["wholesale_rate_usd"] == "6.00"


# --- Bills that exist: since the host's creation month, zero months included -------------------


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/api/host/billing/2025-12", None),
        ("/api/host/billing/2025-12?format=csv", None),
        ("/api/host/billing/2025-12", "text/csv"),
        ("/api/host/billing/1970-01", None),
    ],
)
def test_a_month_before_the_host_was_created_is_404_bill_not_found(host_client, path, accept):
    # The host was created on 2026-01-05 (tests/billing/conftest.py).
    close_month(date(2025, 12, 1))
    response = host_client.get(path, **({"HTTP_ACCEPT": accept} if accept else {}))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "bill_not_found"


def test_the_hosts_creation_month_has_a_bill(host_client):
    body = host_client.get("/api/host/billing/2026-01").json()
    assert (body["month"], body["status"], body["total_amount_usd"]) == ("2026-01", "open", "0.00")


def test_the_list_has_every_closed_month_since_the_host_was_created_zero_months_included(host, host_client):
    servers(host, 1, month=3)  # billed from March on
    mistakes(host, 1, month=2)  # February: waived only, a record of 0.00 to keep it
    for month in (date(2025, 12, 1), *(date(2026, m, 1) for m in (1, 2, 3, 4))):
        close_month(month)

    first = host_client.get("/api/host/billing?page_size=3").json()
    second = host_client.get(first["next"]).json()
    items = first["results"] + second["results"]
    assert [(item["month"], item["active_license_count"], item["total_amount_usd"]) for item in items] == [
        ("2026-04", 1, "6.00"),
        ("2026-03", 1, "6.00"),
        ("2026-02", 0, "0.00"),
        ("2026-01", 0, "0.00"),  # the creation month; December 2025, closed before it, is not the host's
    ]
    assert second["next"] is None
    assert {(item["status"], item["wholesale_rate_usd"]) for item in items} == {("closed", "6.00")}
    # Closed in this order: March, then April; months of 0.00 have no invoice.
    assert [item["invoice"] for item in items] == ["INV-2026-00002", "INV-2026-00001", None, None]
    assert items[2]["generated_at"] == "2026-06-10T12:00:00Z"


def test_a_zero_months_rate_is_the_one_in_force_at_its_end(host, host_client, frozen):
    from hosts.services import host_update

    frozen.move_to(at(2026, 3, 15), tick=False)
    host_update(host=host, wholesale_rate_usd=Decimal("4.50"), actor=Actor.command("tests"))
    frozen.move_to(at(2026, 6, 10, 12), tick=False)
    for month in (2, 3):
        close_month(date(2026, month, 1))
    items = host_client.get("/api/host/billing").json()["results"]
    assert [(item["month"], item["wholesale_rate_usd"]) for item in items] == [("2026-03", "4.50"), ("2026-02", "6.00")]
    month = host_client.get("/api/host/billing/2026-02").json()
    assert (month["wholesale_rate_usd"], month["total_amount_usd"]) == ("6.00", "0.00")


def test_the_list_query_count_does_not_grow_with_months(host, host_client, django_assert_max_num_queries):
    servers(host, 2, month=1)
    mistakes(host, 1, month=3)
    host_client.get("/api/host/billing")  # the first request of a key also records its last use
    close_month(date(2026, 1, 1))
    # key, page of months, their records, the rate history (for zero months)
    with django_assert_max_num_queries(4):
        assert len(host_client.get("/api/host/billing").json()["results"]) == 1
    for month in (2, 3, 4, 5):
        close_month(date(2026, month, 1))
    with django_assert_max_num_queries(4):
        assert len(host_client.get("/api/host/billing").json()["results"]) == 5


def test_the_month_json_has_every_field_of_the_contract(host, host_client):
    servers(host, 1)
    mistakes(host, 1, month=5)
    for month in ("2026-05", "2026-06"):
        assert set(host_client.get(f"/api/host/billing/{month}").json()) == {
            "month",
            "status",
            "active_license_count",
            "wholesale_rate_usd",
            "total_amount_usd",
            "lines",
            "waived_lines",
            "invoice",
        }


def test_waived_lines_show_in_the_open_and_the_closed_bill_but_not_in_the_csv(host, host_client, frozen):
    (kept,) = servers(host, 1)
    (mistake,) = mistakes(host, 1, month=5)
    open_bill = host_client.get("/api/host/billing/2026-05").json()
    close_month()
    closed_bill = host_client.get("/api/host/billing/2026-05").json()
    for bill in (open_bill, closed_bill):
        assert [line["license_id"] for line in bill["lines"]] == [str(kept.license_id)]
        assert bill["waived_lines"] == [
            {
                "server_id": "oops-000",
                "license_id": str(mistake.license_id),
                "license_key": mistake.license.license_key,
                "hostname": mistake.license.hostname,
                "customer_email": mistake.customer_email,
                "status": "terminated",
                "provisioned_at": "2026-05-03T00:00:00Z",
                "terminated_at": "2026-05-03T01:00:00Z",
            }
        ]
        assert (bill["active_license_count"], bill["total_amount_usd"]) == (1, "6.00")
    rows = csv_rows(host_client.get("/api/host/billing/2026-05?format=csv"))
    assert [row[1] for row in rows[1:]] == ["rust-000"]
