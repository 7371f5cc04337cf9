"""`invoice.issued` also e-mails the invoice, attached as `<number>.pdf`, to the host's contact address
(with the bill's CSV beside it when the PDF cannot list every server).

Billing owns invoices and sits above events, so it registers how to render one
(`register_invoice_attachments`); the worker sends the e-mail as a job with the engine's retries.
"""

from django.conf import settings
from django.core.mail import EmailMessage

from events.models import Event

_invoice_attachments = None


def register_invoice_attachments(render):
    """`render(event) -> (number, [(filename, content, mimetype), ...])`: billing's renderer of the
    files of the invoice an event names, the PDF first. Returns the renderer it replaces."""
    global _invoice_attachments
    previous, _invoice_attachments = _invoice_attachments, render
    return previous


def invoice_email_send(*, event_id):
    """Send the invoice of an `invoice.issued` event; raises (so the job is retried) when it cannot."""
    event = Event.objects.select_related("host").get(pk=event_id)
    if _invoice_attachments is None:
        raise RuntimeError("No invoice renderer registered (events.mail.register_invoice_attachments).")
    number, attachments = _invoice_attachments(event)
    message = EmailMessage(
        subject=f"Invoice {number}",
        body=(
            f"Hello {event.host.company_name},\n\nyour invoice {number} is attached."
            + (f"\nSee it online: {settings.PUBLIC_BASE_URL}{event.data['path']}" if event.data.get("path") else "")
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[event.host.contact_email],
    )
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    message.send(fail_silently=False)
