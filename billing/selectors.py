"""Every billing read: bills (closed from their records, open by the rule), the month to close,
exports and the overview's figures. Nothing here writes."""

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, Min, QuerySet, Sum
from django.utils import timezone

from billing.models import (
    INVOICE_NUMBER_PATTERN,
    Bill,
    BillingLine,
    BillingMonth,
    BillingRecord,
    BillingWaivedLine,
    BillStatus,
    CloseSummary,
    Invoice,
    InvoiceStatus,
    SummaryRow,
)
from billing.months import month_format, month_latest_closable, month_of, month_previous
from billing.rules import (
    LINE_FIELDS,
    BillLine,
    bill_total,
    billable_server_count,
    billable_servers,
    host_rates,
    rates_by_month,
    waived_servers,
)
from corrosion.errors import DomainError, ErrorCode
from corrosion.money import money_round
from hosts.models import Host
from licensing.models import HostLicense

INVOICE_NUMBER_FORMAT = re.compile(INVOICE_NUMBER_PATTERN.removeprefix("^").removesuffix("$"))

EXPORT_COLUMNS = (
    "month",
    "invoice_number",
    "company_name",
    "contact_email",
    "active_license_count",
    "wholesale_rate_usd",
    "total_amount_usd",
)


def month_is_closed(*, month: date) -> bool:
    return BillingMonth.objects.filter(month=month).exists()


class _StoredLines:
    """A closed record's lines (or waived lines), read from the database each time they are iterated, in chunks."""

    def __init__(self, model, record_id, chunk_size=2000):
        self.model = model
        self.record_id = record_id
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[BillLine]:
        rows = self.model.objects.filter(record_id=self.record_id).order_by("server_id").values(*LINE_FIELDS)
        for row in rows.iterator(chunk_size=self.chunk_size):
            yield BillLine(**row)


class _LiveLines:
    """An open month's billed (or waived) servers by the billing rule, queried each time they are
    iterated, in chunks."""

    def __init__(self, servers, *, host, month, livemode=True, chunk_size=2000):
        self.servers = servers  # billing.rules.billable_servers or waived_servers
        self.host = host
        self.month = month
        self.livemode = livemode
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[BillLine]:
        rows = self.servers(month=self.month, hosts=[self.host], livemode=self.livemode)
        for row in rows.iterator(chunk_size=self.chunk_size):
            yield BillLine.from_row(row)


def _invoice_number(record) -> str | None:
    """The record's invoice number (voided ones included: the number stays the month's), or None;
    read from the invoice select_related with the record, so it costs no query."""
    try:
        return record.invoice.number
    except Invoice.DoesNotExist:
        return None


def _check_bill_exists(*, host: Host, month: date):
    if month < month_of(host.created_at):
        raise DomainError(
            ErrorCode.BILL_NOT_FOUND,
            f"No bill for {month_format(month)}: this account was created in {month_format(month_of(host.created_at))}.",
        )


def bill_for(*, host: Host, month: date, livemode: bool) -> Bill:
    """The host's bill for `month`: its record once the month is closed, else computed by the rule.
    In test mode (`livemode` False): its test licenses' bill by the same rule, always computed live,
    `test`, with no invoice: test licenses are never closed into a record.

    Raises DomainError `bill_not_found` for a month before the host's creation month.
    """
    _check_bill_exists(host=host, month=month)
    if not livemode:
        return _live_bill(host=host, month=month, livemode=False, status=BillStatus.TEST)
    # The invoice comes in the record's query (a LEFT JOIN): its number costs no query of its own.
    record = BillingRecord.objects.select_related("invoice").filter(host=host, billing_month=month).first()
    if record is not None:
        return Bill(
            month=month,
            status=BillStatus.CLOSED,
            active_license_count=record.active_license_count,
            wholesale_rate_usd=record.wholesale_rate_usd,
            total_amount_usd=record.total_amount_usd,
            lines=_StoredLines(BillingLine, record.pk),
            waived_lines=_StoredLines(BillingWaivedLine, record.pk),
            invoice=_invoice_number(record),
            generated_at=record.generated_at,
        )
    register = BillingMonth.objects.filter(month=month).first()
    if register is not None:
        # Closed with nothing billed nor waived: no record row, and the rate history says what the rate was.
        rate = host_rates(month=month, hosts=[host])[host.pk]
        return Bill(
            month=month,
            status=BillStatus.CLOSED,
            active_license_count=0,
            wholesale_rate_usd=rate,
            total_amount_usd=bill_total(count=0, rate=rate),
            generated_at=register.closed_at,
        )
    return _live_bill(host=host, month=month, livemode=True, status=BillStatus.OPEN)


def _live_bill(*, host: Host, month: date, livemode: bool, status: BillStatus) -> Bill:
    # Counted, then its lines streamed when read, so a CSV of 100,000 lines never sits in memory
    # (holding them made the process 2.9x as big as for a small month; BENCHMARKS.md). A license
    # changing between the reads can show in one and not another: the month is live until it is closed.
    rate = host_rates(month=month, hosts=[host])[host.pk]
    count = billable_server_count(month=month, hosts=[host], livemode=livemode)
    return Bill(
        month=month,
        status=status,
        active_license_count=count,
        wholesale_rate_usd=rate,
        total_amount_usd=bill_total(count=count, rate=rate),
        lines=_LiveLines(billable_servers, host=host, month=month, livemode=livemode),
        waived_lines=_LiveLines(waived_servers, host=host, month=month, livemode=livemode),
    )


def closed_months_for_host(*, host: Host, livemode: bool) -> QuerySet:
    """The closed months since the host's creation month (the register's rows), for the bill list;
    the caller orders and pages them, then reads them with `bills_for_months`. None in test mode:
    test licenses are never closed into a bill."""
    if not livemode:
        return BillingMonth.objects.none()
    return BillingMonth.objects.filter(month__gte=month_of(host.created_at))


def bills_for_months(*, host: Host, months: list[BillingMonth]) -> list[Bill]:
    """The host's bills (without lines) of these closed months, in their order; zero months included.

    Two queries whatever the number of months: the records, and the rate history (for the months
    without a record); each record's invoice comes joined to it.
    """
    records = {
        record.billing_month: record
        for record in BillingRecord.objects.select_related("invoice").filter(
            host=host, billing_month__in=[m.month for m in months]
        )
    }
    rates = rates_by_month(host=host, months=[m.month for m in months if m.month not in records])
    bills = []
    for register in months:
        record = records.get(register.month)
        if record is None:
            rate = rates[register.month]
            bill = Bill(
                month=register.month,
                status=BillStatus.CLOSED,
                active_license_count=0,
                wholesale_rate_usd=rate,
                total_amount_usd=bill_total(count=0, rate=rate),
                generated_at=register.closed_at,
            )
        else:
            bill = Bill(
                month=register.month,
                status=BillStatus.CLOSED,
                active_license_count=record.active_license_count,
                wholesale_rate_usd=record.wholesale_rate_usd,
                total_amount_usd=record.total_amount_usd,
                invoice=_invoice_number(record),
                generated_at=record.generated_at,
            )
        bills.append(bill)
    return bills


def month_to_close_default(*, now: datetime | None = None) -> date | None:
    """The latest month that can be closed and is not, or None when every such month is closed.

    Months before the first live license ever provisioned had nothing to bill, so the search stops there.
    """
    month = month_latest_closable(now=now)
    closed = set(BillingMonth.objects.filter(month__lte=month).values_list("month", flat=True))
    if month not in closed:
        return month
    first = HostLicense.objects.filter(livemode=True).aggregate(first=Min("provisioned_at"))["first"]
    if first is None:
        return None
    while month >= month_of(first):
        if month not in closed:
            return month
        month = month_previous(month)
    return None


def closed_summary(*, month: date) -> CloseSummary:
    """What the close of `month` wrote, from its records."""
    register = BillingMonth.objects.get(month=month)
    records = BillingRecord.objects.filter(billing_month=month).select_related("host").order_by("host_id")
    rows = [
        SummaryRow(
            host_id=record.host_id,
            company_name=record.host.company_name,
            active_license_count=record.active_license_count,
            wholesale_rate_usd=record.wholesale_rate_usd,
            total_amount_usd=record.total_amount_usd,
        )
        for record in records.iterator(chunk_size=2000)
    ]
    rows.sort(key=lambda row: (row.company_name.lower(), str(row.host_id)))
    return CloseSummary(
        month=month, outcome=CloseSummary.Outcome.ALREADY_CLOSED, rows=rows, closed_at=register.closed_at
    )


def export_rows(*, month: date, chunk_size: int = 2000) -> Iterator[tuple]:
    """Every host's record of `month`, one tuple per host in EXPORT_COLUMNS order, streamed."""
    return export_rows_for_records(BillingRecord.objects.filter(billing_month=month), chunk_size=chunk_size)


def export_rows_for_records(records: QuerySet, *, chunk_size: int = 2000) -> Iterator[tuple]:
    """The export's rows for chosen records (the command, or the admin's action), by month then company."""
    rows = (
        records.order_by("billing_month", "host__company_name", "host_id")
        .values_list(
            "billing_month",
            "invoice__number",
            "host__company_name",
            "host__contact_email",
            "active_license_count",
            "wholesale_rate_usd",
            "total_amount_usd",
        )
        .iterator(chunk_size=chunk_size)
    )
    for billing_month, number, *rest in rows:
        yield (f"{billing_month:%Y-%m}", number or "", *rest)


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
            revenue_usd=money_round(sums[month]["revenue"] if month in sums else Decimal(0)),
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


def months_closed(*, months) -> set[date]:
    """Which of `months` are closed: a closed month with nothing billed has no record, only its register row."""
    return set(BillingMonth.objects.filter(month__in=list(months)).values_list("month", flat=True))


def record_months() -> list[date]:
    """The months that have billing records, newest first (the admin's month filter)."""
    return list(BillingRecord.objects.order_by("-billing_month").values_list("billing_month", flat=True).distinct())


# --- Invoices -------------------------------------------------------------------------------------


def invoices_for_host(*, host: Host, status: str | None = None) -> QuerySet:
    """The host's invoices (the caller orders and pages them), optionally of one status."""
    invoices = Invoice.objects.filter(host=host)
    return invoices.filter(status=status) if status else invoices


def invoice_for_host(*, host: Host, number: str) -> Invoice:
    """The host's invoice of this number; another host's number is not found, as an unknown one is."""
    # Anything not shaped like a number is not found without a query (a NUL, which PostgreSQL
    # cannot even compare, included).
    well_formed = len(number) <= 24 and INVOICE_NUMBER_FORMAT.fullmatch(number)
    invoice = Invoice.objects.filter(host=host, number=number).first() if well_formed else None
    if invoice is None:
        raise DomainError(ErrorCode.INVOICE_NOT_FOUND, f"No invoice {number!r}.")
    return invoice


def invoice_lines(invoice: Invoice):
    """The invoice's lines: its record's billed servers (never changed), read in chunks when iterated."""
    return _StoredLines(BillingLine, invoice.record_id)


def invoices_overdue(queryset: QuerySet, *, today: date | None = None) -> QuerySet:
    return queryset.filter(status=InvoiceStatus.OPEN, due_date__lt=today or timezone.now().date())


@dataclass(frozen=True)
class OutstandingFigures:
    open_count: int
    open_usd: Decimal
    overdue_count: int
    overdue_usd: Decimal


def invoices_outstanding() -> OutstandingFigures:
    """What is owed: every open invoice, and those of them past their due date (the overview)."""
    open_invoices = Invoice.objects.filter(status=InvoiceStatus.OPEN)
    figures = open_invoices.aggregate(n=Count("id"), usd=Sum("total_amount_usd"))
    overdue = invoices_overdue(open_invoices).aggregate(n=Count("id"), usd=Sum("total_amount_usd"))
    return OutstandingFigures(
        open_count=figures["n"],
        open_usd=money_round(figures["usd"] or Decimal(0)),
        overdue_count=overdue["n"],
        overdue_usd=money_round(overdue["usd"] or Decimal(0)),
    )


def invoice_months() -> list[date]:
    """The months that have invoices, newest first (the admin's month filter)."""
    return list(Invoice.objects.order_by("-billing_month").values_list("billing_month", flat=True).distinct())
