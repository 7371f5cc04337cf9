"""Reads of stored billing rows, for the API, the admin and the export."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone

from billing.models import BillingMonth, BillingRecord
from billing.months import month_of, month_previous
from billing.rules import MONEY, bill_total, billable_servers, host_rates
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
    return export_rows_for_records(BillingRecord.objects.filter(billing_month=month), chunk_size=chunk_size)


def export_rows_for_records(records: QuerySet, *, chunk_size: int = 2000) -> Iterator[tuple]:
    """The export's rows for chosen records (the command, or the admin's action), by month then company."""
    rows = (
        records.order_by("billing_month", "host__company_name", "host_id")
        .values_list(
            "billing_month",
            "host__company_name",
            "host__contact_email",
            "active_license_count",
            "wholesale_rate_usd",
            "total_amount_usd",
        )
        .iterator(chunk_size=chunk_size)
    )
    for billing_month, *rest in rows:
        yield (f"{billing_month:%Y-%m}", *rest)


@dataclass(frozen=True)
class MonthFigures:
    month: date
    servers: int
    revenue_usd: Decimal


def monthly_totals(*, months: int, now: datetime | None = None) -> list[MonthFigures]:
    """Billed servers and revenue of the `months` months before this one, oldest first (zeros where none)."""
    month, wanted = month_of(now or timezone.now()), []
    for _ in range(months):
        month = month_previous(month)
        wanted.append(month)
    sums = {
        row["billing_month"]: row
        for row in BillingRecord.objects.filter(billing_month__in=wanted)
        .values("billing_month")
        .annotate(servers=Sum("active_license_count"), revenue=Sum("total_amount_usd"))
    }
    return [
        MonthFigures(
            month=month,
            servers=sums[month]["servers"] if month in sums else 0,
            revenue_usd=(sums[month]["revenue"] if month in sums else Decimal(0)).quantize(MONEY),
        )
        for month in sorted(wanted)
    ]


def open_month_figures(*, now: datetime | None = None) -> MonthFigures:
    """The current month so far, computed live by the billing rule."""
    month = month_of(now or timezone.now())
    rates = host_rates(month=month)
    counts = Counter(row["host_id"] for row in billable_servers(month=month).iterator(chunk_size=5000))
    revenue = sum((bill_total(count=n, rate=rates[host_id]) for host_id, n in counts.items()), Decimal("0.00"))
    return MonthFigures(month=month, servers=sum(counts.values()), revenue_usd=revenue)
