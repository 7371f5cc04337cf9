"""invoice.issued e-mails the invoice as `<number>.pdf` to the host's contact address."""

import json

import pytest
from django.core import mail as outbox
from django.db import connection

from events import mail, services
from events.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def renderer():
    rendered = []

    def render(event):
        rendered.append(event.pk)
        return event.data["number"], [(f"{event.data['number']}.pdf", b"%PDF-1.4 fake", "application/pdf")]

    previous = mail.register_invoice_attachments(render)
    yield rendered
    mail.register_invoice_attachments(previous)


def test_an_issued_invoice_is_e_mailed_with_its_pdf(host, renderer, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    data = {"number": "CRN-2026-0001", "status": "open", "path": "/api/host/invoices/CRN-2026-0001"}
    with django_capture_on_commit_callbacks(execute=True):
        event = services.event_record(host=host, type="invoice.issued", data=data)
    if connection.vendor == "postgresql":
        # The job is committed with the event; the worker runs it. Here it is run as the worker would.
        with connection.cursor() as cursor:
            cursor.execute("SELECT args FROM procrastinate_jobs WHERE task_name = 'events.email_invoice'")
            args = cursor.fetchone()[0]
            assert (json.loads(args) if isinstance(args, str) else args) == {"event_id": str(event.pk)}
        mail.invoice_email_send(event_id=event.pk)
    [message] = outbox.outbox
    assert message.to == [host.contact_email]
    assert message.attachments[0][0] == "CRN-2026-0001.pdf"
    assert message.attachments[0][2] == "application/pdf"
    assert renderer == [event.pk]


def test_other_events_send_no_e_mail(host, renderer, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        services.event_record(host=host, type="invoice.paid", data={"number": "CRN-2026-0001"})
    assert outbox.outbox == [] and renderer == []
    assert Event.objects.count() == 1
