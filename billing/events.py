"""The `billing.month_closed` event: a summary of each host's month and the API path of the whole,
never its lines (a host's month can hold 100,000 of them)."""

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
