"""`invoice.issued` also e-mails the invoice, attached as `<number>.pdf`, to the host's contact address.

Billing owns invoices and sits above events, so it registers how to render one
(`register_invoice_pdf`); the worker sends the e-mail as a job with the engine's retries.
"""

from django.conf import settings
from django.core.mail import EmailMessage

from events.models import Event

_invoice_pdf = None


def register_invoice_pdf(render):
    """`render(event) -> (number, pdf bytes)`: billing's renderer of the invoice an event names."""
    global _invoice_pdf
    _invoice_pdf = render


def invoice_email_send(*, event_id):
    """Send the invoice of an `invoice.issued` event; raises (so the job is retried) when it cannot."""
    event = Event.objects.select_related("host").get(pk=event_id)
    if _invoice_pdf is None:
        raise RuntimeError("No invoice renderer registered (events.mail.register_invoice_pdf).")
    number, pdf = _invoice_pdf(event)
    message = EmailMessage(
        subject=f"Invoice {number}",
        body=(
            f"Hello {event.host.company_name},\n\nyour invoice {number} is attached."
            + (f"\nSee it online: {settings.PUBLIC_BASE_URL}{event.data['path']}" if event.data.get("path") else "")
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[event.host.contact_email],
    )
    message.attach(f"{number}.pdf", pdf, "application/pdf")
    message.send(fail_silently=False)
