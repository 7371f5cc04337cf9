"""Billing's events: `billing.month_closed` and `invoice.issued` / `.paid` / `.voided`, each a summary
and the API path of the whole, never its lines (a host's month can hold 100,000 of them); and the
files `invoice.issued` e-mails (registered with events.mail at startup)."""

from billing.months import month_format
from events.services import events_record
from hosts.models import Host


def month_closed_events_record(*, month, rows):
    """One event per host, billed or not (a host with nothing billed gets a zero summary), in a
    fixed number of queries; call it in the close's transaction. Billing counts live licenses
    only, so the events are live."""
    text = month_format(month)
    by_host = {row.host_id: row for row in rows}
    items = []
    for host_id, rate in Host.objects.order_by("pk").values_list("pk", "wholesale_rate_usd"):
        row = by_host.get(host_id)
        summary = {
            "month": text,
            "active_license_count": row.active_license_count if row else 0,
            "wholesale_rate_usd": str(row.wholesale_rate_usd if row else rate),
            "total_amount_usd": str(row.total_amount_usd) if row else "0.00",
            "path": f"/api/host/billing/{text}",
        }
        items.append((host_id, summary))
    events_record(type="billing.month_closed", items=items)


def invoice_summary(invoice):
    return {
        "number": invoice.number,
        "status": invoice.status,
        "billing_month": month_format(invoice.billing_month),
        "active_license_count": invoice.active_license_count,
        "wholesale_rate_usd": str(invoice.wholesale_rate_usd),
        "total_amount_usd": str(invoice.total_amount_usd),
        "currency": invoice.currency,
        "due_date": invoice.due_date.isoformat(),
        "path": f"/api/host/invoices/{invoice.number}",
    }


def invoice_events_record(invoices, type):
    """One `type` event per invoice, in the caller's transaction (a close's may issue thousands: a
    fixed number of queries). Invoices are live only: test mode is never billed."""
    if invoices:
        events_record(type=type, items=[(invoice.host_id, invoice_summary(invoice)) for invoice in invoices])


def invoice_attachments(event):
    """The files of the invoice an `invoice.issued` event names: `<number>.pdf`, and the bill's CSV
    beside it when the PDF lists only the first INVOICE_PDF_MAX_LINES servers."""
    from billing.documents import invoice_files
    from billing.models import Invoice

    invoice = Invoice.objects.get(number=event.data["number"], host_id=event.host_id)
    return invoice.number, invoice_files(invoice)
