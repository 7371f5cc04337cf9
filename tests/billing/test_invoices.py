"""Invoices issued by the month's close: numbers, fields, the buyer's copy, paid and void."""

from datetime import date
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from audit.services import Actor
from billing.models import BillingRecord, Invoice, InvoiceNumberSequence, InvoiceStatus
from billing.services import invoice_mark_paid, invoice_void, month_close
from corrosion.errors import DomainError, ErrorCode
from hosts.services import host_update
from licensing.services import license_terminate
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

ACTOR = Actor.command("tests")
APRIL, MAY = date(2026, 4, 1), date(2026, 5, 1)


def servers(host, count, *, provisioned_at=None):
    return [
        HostLicenseFactory(
            host=host, server_identifier=f"rust-{n:04d}", provisioned_at=provisioned_at or at(2026, 3, 2)
        )
        for n in range(count)
    ]


def close(month):
    out = StringIO()
    call_command("close_billing_month", "--month", f"{month:%Y-%m}", stdout=out)
    return out.getvalue()


@pytest.fixture
def hosts():
    acme = HostFactory(
        company_name="Acme Hosting",
        wholesale_rate_usd=Decimal("6.10"),
        billing_address="1 Harbour Street\nBristol BS1 4RN",
        tax_id="GB123456789",
    )
    zeta = HostFactory(company_name="Zeta Servers", wholesale_rate_usd=Decimal("5.00"))
    idle = HostFactory(company_name="Idle Games")  # nothing billable: no invoice
    servers(acme, 3)
    servers(zeta, 1)
    return acme, zeta, idle


def test_closing_a_month_issues_one_invoice_per_host_billed_numbered_in_company_order(hosts, settings):
    settings.INVOICE_ISSUER = ("Corrosion Ltd", "10 Dock Road", "Cardiff CF10 1AA")
    acme, zeta, _idle = hosts
    output = close(MAY)

    invoices = {invoice.host_id: invoice for invoice in Invoice.objects.all()}
    assert set(invoices) == {acme.pk, zeta.pk}
    first, second = invoices[acme.pk], invoices[zeta.pk]
    assert (first.number, second.number) == ("INV-2026-00001", "INV-2026-00002")
    assert first.record == BillingRecord.objects.get(host=acme, billing_month=MAY)
    assert (first.active_license_count, first.wholesale_rate_usd, first.total_amount_usd) == (
        3,
        Decimal("6.10"),
        Decimal("18.30"),
    )
    assert first.issued_at == at(2026, 6, 10, 12)
    assert first.due_date == date(2026, 7, 10)  # 30 days
    assert (first.currency, first.status, first.overdue) == ("USD", InvoiceStatus.OPEN, False)
    assert (first.issuer_name, first.issuer_address) == ("Corrosion Ltd", "10 Dock Road\nCardiff CF10 1AA")
    assert (first.buyer_company_name, first.buyer_contact_email) == ("Acme Hosting", acme.contact_email)
    assert (first.buyer_billing_address, first.buyer_tax_id) == ("1 Harbour Street\nBristol BS1 4RN", "GB123456789")
    assert "Issued 2 invoices: INV-2026-00001 to INV-2026-00002." in output
    assert InvoiceNumberSequence.objects.get(year=2026).last == 2
    assert AuditEvent.objects.filter(action="invoices.issued", data__count=2, data__month="2026-05").count() == 1


def test_numbers_continue_across_months_of_the_same_year(hosts, frozen):
    close(APRIL)
    close(MAY)
    numbers = list(Invoice.objects.order_by("billing_month", "sequence").values_list("billing_month", "number"))
    assert numbers == [
        (APRIL, "INV-2026-00001"),
        (APRIL, "INV-2026-00002"),
        (MAY, "INV-2026-00003"),
        (MAY, "INV-2026-00004"),
    ]


def test_a_new_year_of_issue_starts_again_at_one(hosts, frozen):
    close(APRIL)
    frozen.move_to(at(2027, 1, 5), tick=False)
    close(MAY)
    assert sorted(Invoice.objects.filter(billing_month=MAY).values_list("number", flat=True)) == [
        "INV-2027-00001",
        "INV-2027-00002",
    ]
    assert dict(InvoiceNumberSequence.objects.values_list("year", "last")) == {2026: 2, 2027: 2}


def test_the_invoice_keeps_the_buyer_as_it_was_at_issue(hosts):
    acme, _, _ = hosts
    close(MAY)
    host_update(host=acme, actor=ACTOR, company_name="Acme Renamed", billing_address="Elsewhere", tax_id="")
    invoice = Invoice.objects.get(host=acme)
    assert (invoice.buyer_company_name, invoice.buyer_billing_address, invoice.buyer_tax_id) == (
        "Acme Hosting",
        "1 Harbour Street\nBristol BS1 4RN",
        "GB123456789",
    )


def test_a_host_whose_servers_were_all_waived_gets_no_invoice(frozen):
    host = HostFactory()
    [mistake] = servers(host, 1, provisioned_at=at(2026, 5, 2))
    frozen.move_to(at(2026, 5, 2, 1), tick=False)
    license_terminate(host_license=mistake, actor=ACTOR)
    frozen.move_to(at(2026, 6, 10, 12), tick=False)
    close(MAY)
    assert BillingRecord.objects.get(host=host).total_amount_usd == Decimal("0.00")
    assert not Invoice.objects.exists()


def test_a_dry_run_takes_no_number(hosts):
    month_close(month=MAY, actor=ACTOR, dry_run=True)
    assert not Invoice.objects.exists()
    assert not InvoiceNumberSequence.objects.exists()


def test_a_close_that_fails_after_issuing_takes_no_number(hosts):
    with (
        mock.patch("billing.services.audit_record", side_effect=[None, RuntimeError("disk full")]),
        pytest.raises(RuntimeError),
    ):
        month_close(month=MAY, actor=ACTOR)
    assert not Invoice.objects.exists()
    assert InvoiceNumberSequence.objects.filter(last__gt=0).count() == 0
    close(MAY)
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["INV-2026-00001", "INV-2026-00002"]


def test_an_invoice_is_overdue_when_open_past_its_due_date(hosts, frozen):
    close(MAY)
    invoice = Invoice.objects.first()
    frozen.move_to(at(2026, 7, 10, 23), tick=False)
    assert not invoice.overdue
    frozen.move_to(at(2026, 7, 11, 0, 1), tick=False)
    assert invoice.overdue


def test_mark_paid_needs_a_date_and_a_reference_and_is_final(hosts):
    close(MAY)
    invoice = Invoice.objects.get(number="INV-2026-00001")
    with pytest.raises(DomainError) as refused:
        invoice_mark_paid(invoice=invoice, paid_at=None, payment_reference=" ", actor=ACTOR)
    assert refused.value.code == ErrorCode.INVALID
    assert set(refused.value.fields) == {"paid_at", "payment_reference"}
    with pytest.raises(DomainError) as refused:
        invoice_mark_paid(invoice=invoice, paid_at=date(2026, 6, 11), payment_reference="x", actor=ACTOR)
    assert refused.value.fields == {"paid_at": ["The payment date cannot be in the future."]}

    invoice_mark_paid(invoice=invoice, paid_at=date(2026, 6, 9), payment_reference=" WIRE-889 ", actor=ACTOR)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at, invoice.payment_reference) == ("paid", date(2026, 6, 9), "WIRE-889")
    assert AuditEvent.objects.filter(action="invoice.paid", data__number="INV-2026-00001").count() == 1
    for change in (
        lambda: invoice_mark_paid(invoice=invoice, paid_at=date(2026, 6, 9), payment_reference="again", actor=ACTOR),
        lambda: invoice_void(invoice=invoice, reason="late", actor=ACTOR),
    ):
        with pytest.raises(DomainError) as refused:
            change()
        assert refused.value.code == ErrorCode.INVOICE_NOT_OPEN


def test_void_needs_a_reason_and_only_an_open_invoice(hosts):
    close(MAY)
    invoice = Invoice.objects.get(number="INV-2026-00002")
    with pytest.raises(DomainError) as refused:
        invoice_void(invoice=invoice, reason="   ", actor=ACTOR)
    assert refused.value.fields == {"void_reason": ["A reason (up to 1000 characters) is required."]}
    invoice_void(invoice=invoice, reason="Billed twice by mistake", actor=ACTOR)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason, invoice.voided_at) == (
        "void",
        "Billed twice by mistake",
        at(2026, 6, 10, 12),
    )
    assert AuditEvent.objects.filter(action="invoice.voided").count() == 1
    with pytest.raises(DomainError):
        invoice_void(invoice=invoice, reason="again", actor=ACTOR)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "paid"},  # no date nor reference
        {"status": "void"},  # no reason
        {"status": "open", "void_reason": "why"},
        {"number": "INV-26-1"},
        {"status": "lost"},
    ],
)
def test_the_database_refuses_an_invoice_in_an_impossible_state(hosts, change):
    close(MAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(number="INV-2026-00001").update(**change)


def test_an_invoice_is_never_deleted(hosts, is_postgres):
    close(MAY)
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - the model's refusal, or the trigger's
        Invoice.objects.all().delete()
    assert Invoice.objects.count() == 2
