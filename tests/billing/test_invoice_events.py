"""Invoices meet events: issuing, paying and voiding record their events in the same transaction,
and `invoice.issued` e-mails `<number>.pdf` (and the bill's CSV, when the PDF cannot list every
server) to the host's contact address, received here by a real SMTP server."""

import csv
import email
import io
import socket
from datetime import date

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection
from pypdf import PdfReader

from audit.services import Actor
from billing.models import Invoice
from billing.services import invoice_mark_paid, invoice_void, month_close
from events import mail
from events.models import Event
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.command("tests")


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = _Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


def _close_march(host, servers, django_capture_on_commit_callbacks):
    for n in range(servers):
        HostLicenseFactory(host=host, server_identifier=f"rust-{n:03d}", provisioned_at=at(2026, 3, 2))
    with django_capture_on_commit_callbacks(execute=True), time_machine.travel(at(2026, 4, 10), tick=False):
        month_close(month=date(2026, 3, 1), actor=ACTOR)
    return Invoice.objects.get(host=host)


def _send_as_the_worker_would(event):
    # On PostgreSQL the e-mail is a procrastinate job committed with the event; the worker's
    # function is run here. On SQLite it was sent when the close committed.
    if connection.vendor == "postgresql":
        mail.invoice_email_send(event_id=event.pk)


def test_closing_a_month_records_invoice_issued_and_e_mails_the_pdf(smtp, settings, django_capture_on_commit_callbacks):
    settings.INVOICE_PDF_MAX_LINES = 1000
    host = HostFactory(wholesale_rate_usd="6.00", contact_email="billing@acme.test")
    invoice = _close_march(host, 3, django_capture_on_commit_callbacks)

    event = Event.objects.get(host=host, type="invoice.issued")
    assert event.livemode is True
    assert event.data == {
        "number": invoice.number,
        "status": "open",
        "billing_month": "2026-03",
        "active_license_count": 3,
        "wholesale_rate_usd": "6.00",
        "total_amount_usd": "18.00",
        "currency": "USD",
        "due_date": invoice.due_date.isoformat(),
        "path": f"/api/host/invoices/{invoice.number}",
    }
    _send_as_the_worker_would(event)

    [(recipients, message)] = smtp.messages
    assert recipients == ["billing@acme.test"]
    assert message["Subject"] == f"Invoice {invoice.number}"
    files = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert list(files) == [f"{invoice.number}.pdf"]
    assert files[f"{invoice.number}.pdf"].get_content_type() == "application/pdf"
    text = "\n".join(
        p.extract_text() for p in PdfReader(io.BytesIO(files[f"{invoice.number}.pdf"].get_payload(decode=True))).pages
    )
    assert invoice.number in text and "3 servers x 6.00 USD = 18.00 USD" in text


def test_beyond_the_pdf_row_limit_the_bills_csv_travels_beside_the_pdf(
    smtp, settings, django_capture_on_commit_callbacks
):
    settings.INVOICE_PDF_MAX_LINES = 2
    host = HostFactory(wholesale_rate_usd="6.00")
    invoice = _close_march(host, 3, django_capture_on_commit_callbacks)
    _send_as_the_worker_would(Event.objects.get(host=host, type="invoice.issued"))

    [(_, message)] = smtp.messages
    files = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert list(files) == [f"{invoice.number}.pdf", "corrosion-billing-2026-03.csv"]
    rows = list(csv.reader(io.StringIO(files["corrosion-billing-2026-03.csv"].get_payload(decode=True).decode())))
    assert rows[0][0] == "month" and rows[0][-1] == "wholesale_rate_usd"
    assert sorted(row[1] for row in rows[1:]) == ["rust-000", "rust-001", "rust-002"]


def test_paying_and_voiding_record_their_events(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    paid_host, void_host = HostFactory(), HostFactory()
    for host in (paid_host, void_host):
        HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 3, 2))
    with django_capture_on_commit_callbacks(execute=True), time_machine.travel(at(2026, 4, 10), tick=False):
        month_close(month=date(2026, 3, 1), actor=ACTOR)
    invoice_mark_paid(
        invoice=Invoice.objects.get(host=paid_host), paid_at=date(2026, 4, 12), payment_reference="WIRE-1", actor=ACTOR
    )
    invoice_void(invoice=Invoice.objects.get(host=void_host), reason="issued in error", actor=ACTOR)

    assert Event.objects.get(host=paid_host, type="invoice.paid").data["status"] == "paid"
    assert Event.objects.get(host=void_host, type="invoice.voided").data["status"] == "void"
    assert not Event.objects.filter(host=paid_host, type="invoice.voided").exists()


def test_a_close_that_rolls_back_records_no_invoice_event(monkeypatch):
    host = HostFactory()
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 3, 2))

    def fail(**kwargs):
        raise RuntimeError("the close fails after issuing its invoices")

    monkeypatch.setattr("billing.services.month_closed_events_record", fail)
    with pytest.raises(RuntimeError), time_machine.travel(at(2026, 4, 10), tick=False):
        month_close(month=date(2026, 3, 1), actor=ACTOR)
    assert not Invoice.objects.exists()
    assert not Event.objects.filter(type="invoice.issued").exists()
