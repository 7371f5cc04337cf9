"""Staff follow invoices in the admin: the list, the document and its PDF, mark paid, void, the overview."""

import io
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from pypdf import PdfReader

from audit.models import AuditEvent
from audit.services import Actor
from billing.models import Invoice
from billing.services import month_close
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

LIST = "/admin/billing/invoice/"


def page(invoice, suffix=""):
    return f"{LIST}{invoice.pk}/{suffix}"


@pytest.fixture
def invoices():
    """April and May of two hosts: four invoices, April's due 2026-07-10 like May's (issued the same day)."""
    for name, count in (("Acme Hosting", 3), ("Zeta Servers", 1)):
        host = HostFactory(company_name=name)
        for n in range(count):
            HostLicenseFactory(host=host, server_identifier=f"rust-{n}", provisioned_at=at(2026, 4, 2))
    for month in (4, 5):
        month_close(month=date(2026, month, 1), actor=Actor.command("tests"))
    return {invoice.number: invoice for invoice in Invoice.objects.all()}


def listed(response):
    return sorted(invoice.number for invoice in response.context["cl"].result_list)


def test_the_list_filters_by_status_overdue_and_month_and_searches(staff_client, staff_user, invoices, frozen):
    assert listed(staff_client.get(LIST)) == sorted(invoices)
    assert listed(staff_client.get(LIST, {"billing_month": "2026-04"})) == ["INV-2026-00001", "INV-2026-00002"]
    assert listed(staff_client.get(LIST, {"q": "INV-2026-00003"})) == ["INV-2026-00003"]
    assert listed(staff_client.get(LIST, {"q": "zeta"})) == ["INV-2026-00002", "INV-2026-00004"]
    staff_client.post(page(invoices["INV-2026-00001"], "void/"), {"void_reason": "duplicate"})
    assert listed(staff_client.get(LIST, {"status__exact": "void"})) == ["INV-2026-00001"]
    assert listed(staff_client.get(LIST, {"overdue": "yes"})) == []
    frozen.move_to(at(2026, 7, 11, 9), tick=False)
    staff_client.force_login(staff_user)  # a month later, the session has expired
    assert listed(staff_client.get(LIST, {"overdue": "yes"})) == ["INV-2026-00002", "INV-2026-00003", "INV-2026-00004"]
    assert listed(staff_client.get(LIST, {"overdue": "no"})) == ["INV-2026-00001"]


def test_the_invoice_page_shows_the_document_and_links_its_pdf(staff_client, invoices):
    invoice = invoices["INV-2026-00003"]
    response = staff_client.get(page(invoice, "change/"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="invoice-INV-2026-00003"' in html
    assert "3 servers &times; 6.00 USD = 18.00 USD" in html
    assert f'href="{page(invoice, "pdf/")}"' in html
    assert 'id="invoice-mark-paid"' in html and 'id="invoice-void"' in html
    pdf = staff_client.get(page(invoice, "pdf/"))
    assert pdf["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Invoice INV-2026-00003" in text and "3 servers x 6.00 USD = 18.00 USD" in text


def test_mark_paid_needs_a_date_and_a_reference(staff_client, invoices):
    invoice = invoices["INV-2026-00003"]
    response = staff_client.post(page(invoice, "mark-paid/"), {"paid_at": "", "payment_reference": ""})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"paid_at", "payment_reference"}
    response = staff_client.post(page(invoice, "mark-paid/"), {"paid_at": "2026-06-30", "payment_reference": "W-1"})
    assert response.context["form"].errors == {"paid_at": ["The payment date cannot be in the future."]}
    invoice.refresh_from_db()
    assert invoice.status == "open"

    response = staff_client.post(page(invoice, "mark-paid/"), {"paid_at": "2026-06-09", "payment_reference": "W-1"})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at, invoice.payment_reference) == ("paid", date(2026, 6, 9), "W-1")
    event = AuditEvent.objects.get(action="invoice.paid")
    assert (event.actor_type, event.actor, event.data["payment_reference"]) == ("staff", "staff", "W-1")
    html = staff_client.get(page(invoice, "change/")).content.decode()
    assert 'id="invoice-mark-paid"' not in html and 'id="invoice-void"' not in html


def test_void_needs_a_reason_and_an_open_invoice(staff_client, invoices):
    invoice = invoices["INV-2026-00004"]
    response = staff_client.post(page(invoice, "void/"), {"void_reason": "  "})
    assert "void_reason" in response.context["form"].errors
    assert staff_client.post(page(invoice, "void/"), {"void_reason": "wrong host"}).status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason) == ("void", "wrong host")
    again = staff_client.post(page(invoice, "void/"), {"void_reason": "again"})
    assert again.status_code == 200
    assert "INV-2026-00004 is void: only an open invoice can change." in again.content.decode()
    paid = staff_client.post(page(invoice, "mark-paid/"), {"paid_at": "2026-06-09", "payment_reference": "W"})
    assert paid.status_code == 200
    assert AuditEvent.objects.filter(action="invoice.voided").count() == 1


@pytest.mark.parametrize(("codename", "path"), [("mark_invoice_paid", "mark-paid/"), ("void_invoice", "void/")])
def test_each_action_needs_its_own_permission(client, invoices, codename, path):
    user = get_user_model().objects.create_user("clerk", "clerk@corrosion.test", "clerk-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_invoice"]))
    client.force_login(user)
    invoice = invoices["INV-2026-00001"]
    html = client.get(page(invoice, "change/")).content.decode()
    assert "invoice-mark-paid" not in html and "invoice-void" not in html
    data = {"paid_at": "2026-06-09", "payment_reference": "W", "void_reason": "x"}
    assert client.post(page(invoice, path), data).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename=codename))
    user = get_user_model().objects.get(pk=user.pk)  # permissions are cached on the instance
    client.force_login(user)
    assert client.post(page(invoice, path), data).status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == ("paid" if codename == "mark_invoice_paid" else "void")


def test_invoices_cannot_be_added_changed_or_deleted(staff_client, invoices):
    invoice = invoices["INV-2026-00001"]
    assert staff_client.get(f"{LIST}add/").status_code == 403
    assert staff_client.post(page(invoice, "delete/")).status_code == 403
    staff_client.post(page(invoice, "change/"), {"status": "paid"})
    invoice.refresh_from_db()
    assert invoice.status == "open"


def test_the_overview_shows_outstanding_and_overdue_totals(staff_client, staff_user, invoices, frozen):
    staff_client.post(
        page(invoices["INV-2026-00001"], "mark-paid/"), {"paid_at": "2026-06-09", "payment_reference": "W-1"}
    )
    frozen.move_to(at(2026, 7, 11, 9), tick=False)
    month_close(month=date(2026, 6, 1), actor=Actor.command("tests"))  # June's: open, not yet due
    staff_client.force_login(staff_user)
    html = staff_client.get("/admin/billing/billingmonth/overview/").content.decode()
    # Open: 00002-00004 (6 + 18 + 6) and June's two (18 + 6); overdue: 00002-00004.
    assert '<tr id="outstanding-open"><td>Open (not paid nor void)</td><td>5</td><td>54.00</td></tr>' in html
    assert '<tr id="outstanding-overdue"><td>of which overdue</td><td>3</td><td>30.00</td></tr>' in html
