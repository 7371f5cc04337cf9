"""issue_invoices: a past month closed before invoices existed gets its invoices when staff decide."""

from datetime import date
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from audit.services import Actor
from billing.models import Invoice
from billing.services import invoice_void, month_close
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

ACTOR = Actor.command("tests")
APRIL, MAY = date(2026, 4, 1), date(2026, 5, 1)


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def april_closed_before_invoices(frozen):
    """Two hosts billed since March; April closed as it was before invoices existed (none issued)."""
    for name in ("Acme Hosting", "Zeta Servers"):
        host = HostFactory(company_name=name)
        HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 3, 2))
    HostFactory(company_name="Idle Games")
    frozen.move_to(at(2026, 5, 5), tick=False)
    with mock.patch("billing.services.invoice_issue_for_month", return_value=[]):
        month_close(month=APRIL, actor=ACTOR)
    frozen.move_to(at(2026, 6, 10, 12), tick=False)
    assert not Invoice.objects.exists()


def test_a_month_closed_before_invoices_keeps_having_none_and_holds_every_check(april_closed_before_invoices):
    month_close(month=MAY, actor=ACTOR)  # invoices exist from here on
    assert set(Invoice.objects.values_list("billing_month", flat=True)) == {MAY}
    assert "checks hold" in run("check_integrity")


def test_it_issues_the_missing_invoices_of_a_closed_month_and_is_safe_to_re_run(april_closed_before_invoices):
    output = run("issue_invoices", "--month", "2026-04")
    assert "Issued 2 invoices for 2026-04: INV-2026-00001 to INV-2026-00002." in output
    assert "INV-2026-00001  Acme Hosting  6.00 USD" in output
    invoices = list(Invoice.objects.order_by("sequence"))
    assert [(i.billing_month, i.buyer_company_name, i.issued_at) for i in invoices] == [
        (APRIL, "Acme Hosting", at(2026, 6, 10, 12)),
        (APRIL, "Zeta Servers", at(2026, 6, 10, 12)),
    ]
    assert AuditEvent.objects.filter(action="invoices.issued", actor="issue_invoices").count() == 1

    assert "nothing issued" in run("issue_invoices", "--month", "2026-04")
    assert Invoice.objects.count() == 2
    assert "checks hold" in run("check_integrity")


def test_it_never_issues_a_voided_invoice_again(april_closed_before_invoices):
    run("issue_invoices", "--month", "2026-04")
    invoice_void(invoice=Invoice.objects.get(number="INV-2026-00001"), reason="agreed free month", actor=ACTOR)
    assert "nothing issued" in run("issue_invoices", "--month", "2026-04")
    assert Invoice.objects.count() == 2


def test_the_next_close_continues_the_numbers(april_closed_before_invoices):
    run("issue_invoices", "--month", "2026-04")
    month_close(month=MAY, actor=ACTOR)
    assert sorted(Invoice.objects.filter(billing_month=MAY).values_list("number", flat=True)) == [
        "INV-2026-00003",
        "INV-2026-00004",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-05"], "2026-05 is not closed: close it first."),
        (["--month", "2026-13"], "--month"),
        ([], "--month"),
    ],
)
def test_it_refuses_a_month_it_cannot_invoice(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("issue_invoices", *args)
