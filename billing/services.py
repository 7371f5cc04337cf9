"""Bills and closing months: the only code that writes billing rows."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Min
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.models import BillingLine, BillingMonth, BillingRecord
from billing.months import month_closable_from, month_format, month_latest_closable, month_of, month_previous
from billing.rules import (
    LINE_FIELDS,
    BillLine,
    bill_total,
    billable_server_count,
    billable_servers,
    host_bills,
    host_rate_rows,
    host_rates,
)
from corrosion.db import statement_timeout
from hosts.models import Host
from licensing.models import HostLicense

BATCH_SIZE = 1000
# A close is one INSERT ... SELECT over the month's licenses (seconds for 170,000 lines), after
# waiting for any other closer of the month: far more than a request's statement timeout.
CLOSE_STATEMENT_TIMEOUT_SECONDS = 30 * 60
# pg_advisory_xact_lock(namespace, month key): "bill" in ASCII, so no other lock of ours collides.
LOCK_NAMESPACE = 0x62696C6C


class BillingError(Exception):
    """A billing operation that cannot be done; the message says why."""


class BillStatus(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open (computed live)"


class _StoredLines:
    """A closed record's lines, read from the database each time they are iterated, in chunks."""

    def __init__(self, record_id, chunk_size=2000):
        self.record_id = record_id
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[BillLine]:
        rows = BillingLine.objects.filter(record_id=self.record_id).order_by("server_id").values(*LINE_FIELDS)
        for row in rows.iterator(chunk_size=self.chunk_size):
            yield BillLine(**row)


class _LiveLines:
    """An open month's lines by the billing rule, queried each time they are iterated, in chunks."""

    def __init__(self, *, host, month, chunk_size=2000):
        self.host = host
        self.month = month
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[BillLine]:
        rows = billable_servers(month=self.month, hosts=[self.host])
        for row in rows.iterator(chunk_size=self.chunk_size):
            yield BillLine(**{name: row[name] for name in LINE_FIELDS})


@dataclass(frozen=True)
class Bill:
    """A host's bill for one month, closed (from its record) or open (computed live)."""

    month: date
    status: str
    active_license_count: int
    wholesale_rate_usd: Decimal
    total_amount_usd: Decimal
    lines: Iterable[BillLine] = field(default_factory=list)


@dataclass(frozen=True)
class SummaryRow:
    host_id: object
    company_name: str
    active_license_count: int
    wholesale_rate_usd: Decimal
    total_amount_usd: Decimal


@dataclass(frozen=True)
class CloseSummary:
    """What closing a month did (or, for a dry run or a month already closed, would do / did)."""

    class Outcome:
        CLOSED = "closed"
        ALREADY_CLOSED = "already_closed"
        DRY_RUN = "dry_run"

    month: date
    outcome: str
    rows: list[SummaryRow]
    closed_at: datetime | None

    @property
    def host_count(self) -> int:
        return len(self.rows)

    @property
    def server_count(self) -> int:
        return sum(row.active_license_count for row in self.rows)

    @property
    def total_amount_usd(self) -> Decimal:
        return sum((row.total_amount_usd for row in self.rows), Decimal("0.00"))


def bill_for(*, host: Host, month: date) -> Bill:
    """The host's bill for `month`: its record once the month is closed, else computed by the rule."""
    record = BillingRecord.objects.filter(host=host, billing_month=month).first()
    if record is not None:
        return Bill(
            month=month,
            status=BillStatus.CLOSED,
            active_license_count=record.active_license_count,
            wholesale_rate_usd=record.wholesale_rate_usd,
            total_amount_usd=record.total_amount_usd,
            lines=_StoredLines(record.pk),
        )
    if BillingMonth.objects.filter(month=month).exists():
        # Closed with nothing billable: no record row, and the rate history says what the rate was.
        rate = host_rates(month=month, hosts=[host])[host.pk]
        return Bill(
            month=month,
            status=BillStatus.CLOSED,
            active_license_count=0,
            wholesale_rate_usd=rate,
            total_amount_usd=bill_total(count=0, rate=rate),
        )
    # Open: counted, then its lines streamed when read, so a CSV of 100,000 lines never sits in
    # memory (holding them made the process 2.9x as big as for a small month; BENCHMARKS.md). A
    # license changing between the two reads can show in one and not the other: the month is
    # live until it is closed.
    rate = host_rates(month=month, hosts=[host])[host.pk]
    count = billable_server_count(month=month, hosts=[host])
    return Bill(
        month=month,
        status=BillStatus.OPEN,
        active_license_count=count,
        wholesale_rate_usd=rate,
        total_amount_usd=bill_total(count=count, rate=rate),
        lines=_LiveLines(host=host, month=month),
    )


def month_to_close_default(*, now: datetime | None = None) -> date | None:
    """The latest month that can be closed and is not, or None when every such month is closed.

    Months before the first license ever provisioned had nothing to bill, so the search stops there.
    """
    month = month_latest_closable(now=now)
    closed = set(BillingMonth.objects.filter(month__lte=month).values_list("month", flat=True))
    if month not in closed:
        return month
    first = HostLicense.objects.aggregate(first=Min("provisioned_at"))["first"]
    if first is None:
        return None
    while month >= month_of(first):
        if month not in closed:
            return month
        month = month_previous(month)
    return None


def month_close(
    *,
    month: date,
    actor: Actor,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> CloseSummary:
    """Close `month` for every host: a record and its lines per host with something billable.

    Safe to re-run (a closed month is a no-op returning what was closed) and to run twice at once:
    the whole month is written in one transaction, so it is closed entirely or not at all.
    """
    now = timezone.now()
    closable_from = month_closable_from(month)
    if now < closable_from:
        raise BillingError(
            f"{month_format(month)} cannot be closed before {closable_from:%Y-%m-%d %H:%M} UTC: "
            f"its end plus the {settings.BILLING_GRACE_HOURS}-hour grace period."
        )
    if BillingMonth.objects.filter(month=month).exists():
        return _closed_summary(month)
    if dry_run:
        with transaction.atomic(), statement_timeout(CLOSE_STATEMENT_TIMEOUT_SECONDS):
            rows = _write_bills(month=month, now=now, batch_size=batch_size, progress=progress, write=False)
        return CloseSummary(month=month, outcome=CloseSummary.Outcome.DRY_RUN, rows=rows, closed_at=None)
    try:
        with transaction.atomic(), statement_timeout(CLOSE_STATEMENT_TIMEOUT_SECONDS):
            _lock_month(month)
            if BillingMonth.objects.filter(month=month).exists():
                return _closed_summary(month)  # another closer finished while we waited for the lock
            rows = _write_bills(month=month, now=now, batch_size=batch_size, progress=progress, write=True)
            register = BillingMonth.objects.create(month=month, closed_at=now, closed_by=f"{actor.type}:{actor.name}")
            summary = CloseSummary(month=month, outcome=CloseSummary.Outcome.CLOSED, rows=rows, closed_at=now)
            audit_record(
                actor=actor,
                action="billing.month_closed",
                target=register,
                data={
                    "month": month_format(month),
                    "hosts": summary.host_count,
                    "servers": summary.server_count,
                    "total_amount_usd": str(summary.total_amount_usd),
                },
                occurred_at=now,
            )
            return summary
    except IntegrityError:
        # The unique constraints are the backstop when no lock serialised us (SQLite, or a closer
        # that bypassed it): the other run's month stands, whole.
        if BillingMonth.objects.filter(month=month).exists():
            return _closed_summary(month)
        raise


def _lock_month(month):
    """Serialise closers of one month, so the second waits and then finds the month closed.

    Only saves wasted work: the unique constraints on billing_months and host_billing_records are
    what make two records for one host-month impossible. SQLite has one writer at a time anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, month.year * 100 + month.month])


def _write_bills(*, month, now, batch_size, progress, write):
    """Compute every host's bill and, when `write`, insert records and lines.

    PostgreSQL: the host names, then one INSERT ... SELECT for the whole month. Elsewhere (and for
    a dry run): the host names, the rates, the streamed billable servers (plus their count when
    there is a progress bar), then a fixed number of INSERTs per batch.
    """
    names = dict(Host.objects.values_list("pk", "company_name"))
    if write and connection.vendor == "postgresql":
        return _insert_bills_in_one_statement(month=month, now=now, names=names, progress=progress)
    total = billable_server_count(month=month) if progress else 0
    rows, records, lines, done = [], [], [], 0

    def flush():
        if write and records:
            BillingRecord.objects.bulk_create(records)
            BillingLine.objects.bulk_create(lines, batch_size=batch_size)
        records.clear()
        lines.clear()

    for bill in host_bills(month=month, chunk_size=batch_size):
        record = BillingRecord(
            host_id=bill.host_id,
            billing_month=month,
            active_license_count=bill.active_license_count,
            wholesale_rate_usd=bill.wholesale_rate_usd,
            total_amount_usd=bill.total_amount_usd,
            generated_at=now,
        )
        records.append(record)
        lines.extend(BillingLine(record_id=record.pk, **asdict(line)) for line in bill.lines)
        rows.append(
            SummaryRow(
                host_id=bill.host_id,
                company_name=names[bill.host_id],
                active_license_count=record.active_license_count,
                wholesale_rate_usd=record.wholesale_rate_usd,
                total_amount_usd=record.total_amount_usd,
            )
        )
        if len(lines) >= batch_size or len(records) >= batch_size:
            flush()
        done += bill.active_license_count
        if progress:
            progress(done, total)
    flush()
    rows.sort(key=lambda row: (row.company_name.lower(), str(row.host_id)))
    return rows


# On PostgreSQL the month is written by one INSERT ... SELECT: the rows never travel to Python and
# back, which made the close 7.5 times slower than the database's own work (BENCHMARKS.md). The
# billing rule is still rules.py's alone: its querysets are compiled into the statement.
_INSERT_BILLS = """
WITH billable AS MATERIALIZED ({billable}),
rates AS ({rates}),
records AS (
    INSERT INTO {records} (id, host_id, billing_month, active_license_count, wholesale_rate_usd,
                           total_amount_usd, generated_at)
    SELECT gen_random_uuid(), counts.host_id, %s, counts.servers, rates.rate, ROUND(counts.servers * rates.rate, 2), %s
      FROM (SELECT host_id, count(*) AS servers FROM billable GROUP BY host_id) AS counts
      JOIN rates ON rates.id = counts.host_id
    RETURNING id, host_id, active_license_count, wholesale_rate_usd, total_amount_usd
),
lines AS (
    INSERT INTO {lines} (id, record_id, {line_columns})
    SELECT gen_random_uuid(), records.id, {billable_columns}
      FROM billable JOIN records USING (host_id)
)
SELECT host_id, active_license_count, wholesale_rate_usd, total_amount_usd FROM records
"""


def _insert_bills_in_one_statement(*, month, now, names, progress):
    billable, billable_params = billable_servers(month=month).query.sql_with_params()
    rates, rates_params = host_rate_rows(month=month).query.sql_with_params()
    quote = connection.ops.quote_name
    columns = {field.attname: field.column for field in BillingLine._meta.concrete_fields}
    sql = _INSERT_BILLS.format(
        billable=billable,
        rates=rates,
        records=quote(BillingRecord._meta.db_table),
        lines=quote(BillingLine._meta.db_table),
        line_columns=", ".join(quote(columns[name]) for name in LINE_FIELDS),
        billable_columns=", ".join(f"billable.{quote(name)}" for name in LINE_FIELDS),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*billable_params, *rates_params, month, now])
        rows = [
            SummaryRow(
                host_id=host_id,
                company_name=names[host_id],
                active_license_count=count,
                wholesale_rate_usd=rate,
                total_amount_usd=total,
            )
            for host_id, count, rate, total in cursor.fetchall()
        ]
    if progress:
        done = sum(row.active_license_count for row in rows)
        progress(done, done)
    rows.sort(key=lambda row: (row.company_name.lower(), str(row.host_id)))
    return rows


def _closed_summary(month):
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
