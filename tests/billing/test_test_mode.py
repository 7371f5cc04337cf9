"""Test licenses are never billed, closed, exported or counted; a test key reads its own bill,
computed live as `test` (SPEC: Test mode)."""

import csv
import io
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from audit.services import Actor
from billing.models import BillingLine, BillingRecord, BillingWaivedLine
from hosts.services import api_key_issue
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MAY = date(2026, 5, 1)


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def test_client_of(host):
    """The API tests' host's test-mode client."""
    issued = api_key_issue(host=host, livemode=False, actor=Actor.command("tests"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    return client


def test_a_host_with_100_test_licenses_and_1_live_closes_a_month_at_exactly_1_x_rate():
    host = HostFactory(wholesale_rate_usd=Decimal("6.00"))
    live = HostLicenseFactory(host=host, server_identifier="rust-live", provisioned_at=at(2026, 5, 2))
    for n in range(100):
        HostLicenseFactory(host=host, server_identifier=f"rust-{n:03d}", livemode=False, provisioned_at=at(2026, 5, 2))
    # A test license terminated at once would be a waived line if it counted: it must not appear either.
    HostLicenseFactory(
        host=host, server_identifier="oops", livemode=False, status="terminated", provisioned_at=at(2026, 5, 3)
    )

    run("close_billing_month", "--month", "2026-05")

    record = BillingRecord.objects.get(host=host, billing_month=MAY)
    assert (record.active_license_count, record.wholesale_rate_usd, record.total_amount_usd) == (
        1,
        Decimal("6.00"),
        Decimal("6.00"),
    )
    assert list(BillingLine.objects.values_list("license_id", flat=True)) == [live.license_id]
    assert not BillingWaivedLine.objects.exists()
    rows = list(csv.reader(io.StringIO(run("export_billing", "--month", "2026-05"))))
    assert [row[-3:] for row in rows[1:]] == [["1", "6.00", "6.00"]]  # count, rate, total
    call_command("check_integrity", stdout=StringIO())  # non-zero exit (CommandError) on any violation


def test_a_host_with_only_test_licenses_gets_no_record():
    host = HostFactory()
    HostLicenseFactory(host=host, livemode=False, provisioned_at=at(2026, 5, 2))
    run("close_billing_month", "--month", "2026-05")
    assert not BillingRecord.objects.filter(host=host).exists()


def test_the_close_preview_and_the_overview_count_live_servers_only(staff_client):
    host = HostFactory()
    HostLicenseFactory(host=host, provisioned_at=at(2026, 5, 2))
    for _ in range(3):
        HostLicenseFactory(host=host, livemode=False, provisioned_at=at(2026, 5, 2))
    dry_run = run("close_billing_month", "--month", "2026-05", "--dry-run")
    assert not BillingRecord.objects.exists()
    html = staff_client.get("/admin/billing/billingmonth/overview/").content.decode()
    assert "1 billable servers, 6.00 USD" in html
    assert "6.00" in dry_run and "18.00" not in dry_run and "24.00" not in dry_run


def test_a_test_key_reads_its_test_licenses_bill_computed_live(host, host_client, test_client_of):
    HostLicenseFactory(host=host, server_identifier="live-1", provisioned_at=at(2026, 5, 2))
    tests = [
        HostLicenseFactory(host=host, server_identifier=f"test-{n}", livemode=False, provisioned_at=at(2026, 5, 2))
        for n in range(2)
    ]
    run("close_billing_month", "--month", "2026-05")

    bill = test_client_of.get("/api/host/billing/2026-05").json()
    assert bill["status"] == "test"
    assert bill["invoice"] is None
    assert (bill["active_license_count"], bill["wholesale_rate_usd"], bill["total_amount_usd"]) == (2, "6.00", "12.00")
    assert [line["license_key"] for line in bill["lines"]] == [t.license.license_key for t in tests]
    assert all(line["license_key"].startswith("CRN-TEST-") for line in bill["lines"])

    live_bill = host_client.get("/api/host/billing/2026-05").json()
    assert (live_bill["status"], live_bill["active_license_count"]) == ("closed", 1)
    assert [line["server_id"] for line in live_bill["lines"]] == ["live-1"]

    response = test_client_of.get("/api/host/billing/2026-05.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[1] for row in rows[1:]] == ["test-0", "test-1"]


def test_a_test_keys_current_month_is_test_too(host, test_client_of):
    HostLicenseFactory(host=host, livemode=False, provisioned_at=at(2026, 6, 2))
    bill = test_client_of.get("/api/host/billing/2026-06").json()
    assert (bill["status"], bill["active_license_count"], bill["invoice"]) == ("test", 1, None)


def test_a_test_keys_bill_list_is_an_empty_page(host, host_client, test_client_of):
    HostLicenseFactory(host=host, livemode=False, provisioned_at=at(2026, 5, 2))
    run("close_billing_month", "--month", "2026-05")
    assert test_client_of.get("/api/host/billing").json() == {"results": [], "next": None, "previous": None}
    assert [bill["month"] for bill in host_client.get("/api/host/billing").json()["results"]] == ["2026-05"]


def test_a_test_keys_bill_before_the_host_existed_is_404_as_live(test_client_of):
    response = test_client_of.get("/api/host/billing/2025-12")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "bill_not_found"
