"""Staff close a month, open an invoice it issued, download its PDF and mark it paid, in Chromium."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pypdf import PdfReader

from audit.models import AuditEvent
from billing.models import Invoice
from billing.months import month_format, month_latest_closable, month_start
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_close_a_month_open_its_invoice_download_the_pdf_and_mark_it_paid(logged_in, live_server, screenshot):
    page = logged_in
    month = month_latest_closable()
    label = month_format(month)
    for company, servers in (("Alpha Hosting", 3), ("Beta Hosting", 1)):
        host = HostFactory(company_name=company, billing_address="1 Quay Street\nBristol", tax_id="GB42")
        for n in range(servers):
            HostLicenseFactory(
                host=host, server_identifier=f"rust-{n}", provisioned_at=month_start(month) + timedelta(days=1)
            )

    page.goto(f"{live_server.url}/admin/billing/billingmonth/close/")
    page.fill("#id_month", label)
    page.click("#preview-close")
    page.wait_for_selector("#confirm-close")
    page.click("#confirm-close")
    page.wait_for_selector("ul.messagelist li.success")
    year = timezone.now().year
    assert f"INV-{year}-00001 to INV-{year}-00002" in page.inner_text("#close-invoices")
    screenshot("1-closed")

    page.click("#close-invoices-link")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 2
    screenshot("2-invoices")
    page.click(f"text=INV-{year}-00001")
    page.wait_for_selector(f"#invoice-INV-{year}-00001")
    document = page.inner_text(f"#invoice-INV-{year}-00001")
    assert "Alpha Hosting" in document and "GB42" in document
    assert "3 servers \u00d7 6.00 USD = 18.00 USD" in document  # the page's multiplication sign
    screenshot("3-invoice")

    with page.expect_download() as download_info:
        page.click("#invoice-pdf-link")
    download = download_info.value
    assert download.suggested_filename == f"INV-{year}-00001.pdf"
    text = PdfReader(io.BytesIO(Path(download.path()).read_bytes())).pages[0].extract_text()
    assert f"Invoice INV-{year}-00001" in text
    assert f"Billing month: {label}" in text
    assert "3 servers x 6.00 USD = 18.00 USD" in text
    assert "rust-2" in text

    page.click("#invoice-mark-paid")
    page.wait_for_selector("#invoice-action-form")
    page.click("#invoice-action-submit")  # nothing filled in: the browser refuses to send it
    assert page.locator("#id_paid_at:invalid, #id_payment_reference:invalid").count() == 2
    assert "/mark-paid/" in page.url
    page.fill("#id_paid_at", timezone.now().date().isoformat())
    page.fill("#id_payment_reference", "WIRE-2026-118")
    screenshot("4-mark-paid")
    page.click("#invoice-action-submit")
    page.wait_for_selector("ul.messagelist li.success")
    assert f"INV-{year}-00001 is marked paid." in page.inner_text("ul.messagelist")
    assert "Status: Paid" in page.inner_text(f"#invoice-INV-{year}-00001")
    assert page.locator("#invoice-mark-paid").count() == 0
    screenshot("5-paid")

    invoice = Invoice.objects.get(number=f"INV-{year}-00001")
    assert (invoice.status, invoice.payment_reference) == ("paid", "WIRE-2026-118")
    assert AuditEvent.objects.filter(action="invoice.paid", actor_type="staff").count() == 1
