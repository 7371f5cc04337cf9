"""The record page of the billing admin shows the servers the grace rule waived, apart from the billed ones."""

from datetime import date

import pytest

from audit.services import Actor
from billing.models import BillingRecord
from billing.services import month_close
from licensing.models import LicenseStatus
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def _table(html, css_class):
    table = html[html.index(f'class="{css_class}"') :]
    return table[: table.index("</table>")]


def test_the_record_page_shows_waived_servers_apart_from_billed_ones(staff_client):
    host = HostFactory()
    HostLicenseFactory(host=host, server_identifier="kept-1", provisioned_at=at(2026, 5, 2))
    HostLicenseFactory(
        host=host,
        server_identifier="oops-1",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 5, 3),
        terminated_at=at(2026, 5, 3, 2),
    )
    month_close(month=date(2026, 5, 1), actor=Actor.command("tests"))
    record = BillingRecord.objects.get()

    html = staff_client.get(f"/admin/billing/billingrecord/{record.pk}/change/").content.decode()

    billed, waived = _table(html, "billing-lines"), _table(html, "billing-waived-lines")
    assert "kept-1" in billed and "oops-1" not in billed
    assert "oops-1" in waived and "kept-1" not in waived
    assert "terminated" in waived
    assert "Waived servers" in html


def test_a_record_whose_servers_were_all_waived_reads_zero_with_its_waived_lines(staff_client):
    host = HostFactory()
    HostLicenseFactory(
        host=host,
        server_identifier="oops-1",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 5, 3),
        terminated_at=at(2026, 5, 3, 2),
    )
    month_close(month=date(2026, 5, 1), actor=Actor.command("tests"))
    record = BillingRecord.objects.get()
    html = staff_client.get(f"/admin/billing/billingrecord/{record.pk}/change/").content.decode()
    assert "oops-1" in _table(html, "billing-waived-lines")
    assert 'class="billing-lines"' not in html  # no billed server: "None"
