"""Reads of stored billing rows, for the API, the admin and the export."""

from collections.abc import Iterator
from datetime import date

from django.db.models import QuerySet

from billing.models import BillingMonth, BillingRecord
from hosts.models import Host

EXPORT_COLUMNS = (
    "month",
    "company_name",
    "contact_email",
    "active_license_count",
    "wholesale_rate_usd",
    "total_amount_usd",
)


def month_is_closed(*, month: date) -> bool:
    return BillingMonth.objects.filter(month=month).exists()


def records_for_host(*, host: Host) -> QuerySet:
    """The host's records of closed months; the caller orders and pages them."""
    return BillingRecord.objects.filter(host=host)


def export_rows(*, month: date, chunk_size: int = 2000) -> Iterator[tuple]:
    """Every host's record of `month`, one tuple per host in EXPORT_COLUMNS order, streamed."""
    records = (
        BillingRecord.objects.filter(billing_month=month)
        .order_by("host__company_name", "host_id")
        .values_list(
            "billing_month",
            "host__company_name",
            "host__contact_email",
            "active_license_count",
            "wholesale_rate_usd",
            "total_amount_usd",
        )
    )
    for billing_month, *rest in records.iterator(chunk_size=chunk_size):
        yield (f"{billing_month:%Y-%m}", *rest)
