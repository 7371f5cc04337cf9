"""export_billing: every host's record of a closed month, one CSV for invoicing."""

import csv
import io
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.services import Actor
from billing.services import month_close
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

HEADER = [
    "month",
    "invoice_number",
    "company_name",
    "contact_email",
    "active_license_count",
    "wholesale_rate_usd",
    "total_amount_usd",
]


@pytest.fixture
def closed_may():
    zeta = HostFactory(
        company_name="Zeta Servers", contact_email="billing@zeta.test", wholesale_rate_usd=Decimal("5.00")
    )
    acme = HostFactory(company_name="Acme, Inc.", contact_email="ap@acme.test", wholesale_rate_usd=Decimal("6.10"))
    HostFactory(company_name="Idle Hosting")  # nothing billable: no record, no row
    for host, count in ((zeta, 1), (acme, 3)):
        for n in range(count):
            HostLicenseFactory(host=host, server_identifier=f"rust-{n}", provisioned_at=at(2026, 5, 2))
    month_close(month=date(2026, 5, 1), actor=Actor.command("tests"))


EXPECTED = [
    HEADER,
    # Invoices are numbered in company order, as the close issued them.
    ["2026-05", "INV-2026-00001", "Acme, Inc.", "ap@acme.test", "3", "6.10", "18.30"],
    ["2026-05", "INV-2026-00002", "Zeta Servers", "billing@zeta.test", "1", "5.00", "5.00"],
]


@pytest.mark.usefixtures("closed_may")
def test_it_writes_every_hosts_record_to_a_file(tmp_path):
    target = tmp_path / "2026-05.csv"
    out = StringIO()
    call_command("export_billing", "--month", "2026-05", "--output", str(target), stdout=out)
    with target.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == EXPECTED
    assert "Wrote 2 records for 2026-05" in out.getvalue()
    assert [path.name for path in tmp_path.iterdir()] == ["2026-05.csv"]


@pytest.mark.usefixtures("closed_may")
def test_it_writes_to_stdout_with_nothing_else_in_it():
    out, err = StringIO(), StringIO()
    call_command("export_billing", "--month", "2026-05", stdout=out, stderr=err)
    assert list(csv.reader(io.StringIO(out.getvalue()))) == EXPECTED
    assert "2 records" in err.getvalue()


def test_a_closed_month_with_no_records_is_just_the_header():
    month_close(month=date(2026, 5, 1), actor=Actor.command("tests"))
    out = StringIO()
    call_command("export_billing", "--month", "2026-05", stdout=out, stderr=StringIO())
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [HEADER]


def test_it_never_writes_a_live_formula(tmp_path):
    host = HostFactory(company_name="@SUM(1+1)*cmd|' /C calc'!A0", contact_email="=1@evil.test")
    HostLicenseFactory(host=host, provisioned_at=at(2026, 5, 2))
    month_close(month=date(2026, 5, 1), actor=Actor.command("tests"))
    target = tmp_path / "2026-05.csv"
    call_command("export_billing", "--month", "2026-05", "--output", str(target), stdout=StringIO())
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[1] == [
        "2026-05",
        "INV-2026-00001",
        "'@SUM(1+1)*cmd|' /C calc'!A0",
        "'=1@evil.test",
        "1",
        "6.00",
        "6.00",
    ]


@pytest.mark.parametrize("month", ["2026-04", "2026-06"])
def test_it_refuses_a_month_that_is_not_closed(month, tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(CommandError, match="is not closed"):
        call_command("export_billing", "--month", month, "--output", str(target), stdout=StringIO())
    assert not target.exists()


@pytest.mark.parametrize("month", ["2026-5", "2026-05\n", "\u0662\u0660\u0662\u0666-05", "9999-99", "0000-01"])
def test_it_needs_a_well_formed_month(month):
    with pytest.raises(CommandError):
        call_command("export_billing", "--month", month, stdout=StringIO())
