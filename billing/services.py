"""Closing months: the only code that writes billing rows."""

from collections.abc import Callable
from dataclasses import asdict
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.events import invoice_events_record, month_closed_events_record
from billing.models import (
    BillingLine,
    BillingMonth,
    BillingRecord,
    BillingWaivedLine,
    CloseSummary,
    Invoice,
    InvoiceNumberSequence,
    InvoiceStatus,
    SummaryRow,
)
from billing.months import month_closable_from, month_format
from billing.rules import LINE_FIELDS, ROW_NAMES, billable_server_count, host_bills, host_rate_rows, server_months
from billing.selectors import closed_summary, month_is_closed
from corrosion.db import statement_timeout
from corrosion.errors import DomainError, ErrorCode
from hosts.models import Host

BATCH_SIZE = 1000
# A close is one INSERT ... SELECT over the month's licenses (seconds for 170,000 lines), after
# waiting for any other closer of the month: far more than a request's statement timeout.
CLOSE_STATEMENT_TIMEOUT_SECONDS = 30 * 60
# pg_advisory_xact_lock(namespace, month key): "bill" in ASCII, so no other lock of ours collides.
LOCK_NAMESPACE = 0x62696C6C


def month_close(
    *,
    month: date,
    actor: Actor,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> CloseSummary:
    """Close `month` for every host: a record, its lines and its waived lines per host with a server
    held in the month (a host whose servers were all waived gets a record of 0.00 to keep them).

    Safe to re-run (a closed month is a no-op returning what was closed) and to run twice at once:
    the whole month is written in one transaction, so it is closed entirely or not at all. A dry run
    runs the very same statements in a transaction it rolls back, so the preview cannot drift from
    the close.
    """
    now = timezone.now()
    closable_from = month_closable_from(month)
    if now < closable_from:
        raise DomainError(
            ErrorCode.MONTH_NOT_CLOSABLE,
            f"{month_format(month)} cannot be closed before {closable_from:%Y-%m-%d %H:%M} UTC: "
            f"its end plus the {settings.BILLING_GRACE_HOURS}-hour grace period.",
        )
    if month_is_closed(month=month):
        return closed_summary(month=month)
    try:
        with transaction.atomic(), statement_timeout(CLOSE_STATEMENT_TIMEOUT_SECONDS):
            if not dry_run:
                _lock_month(month)
                if month_is_closed(month=month):
                    return closed_summary(month=month)  # another closer finished while we waited for the lock
            rows = _write_bills(month=month, now=now, batch_size=batch_size, progress=progress)
            if dry_run:
                transaction.set_rollback(True)
                return CloseSummary(month=month, outcome=CloseSummary.Outcome.DRY_RUN, rows=rows, closed_at=None)
            register = BillingMonth.objects.create(month=month, closed_at=now, closed_by=f"{actor.type}:{actor.name}")
            # In the close's transaction: a close that fails or is rolled back takes no invoice number.
            invoices = invoice_issue_for_month(month=month, now=now, actor=actor)
            summary = CloseSummary(
                month=month, outcome=CloseSummary.Outcome.CLOSED, rows=rows, closed_at=now, invoices=invoices
            )
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
            month_closed_events_record(month=month, rows=rows)
            return summary
    except IntegrityError:
        # The unique constraints are the backstop when no lock serialised us (SQLite, a dry run, or
        # a closer that bypassed it): the other run's month stands, whole.
        if month_is_closed(month=month):
            return closed_summary(month=month)
        raise


def _lock_month(month):
    """Serialise closers of one month, so the second waits and then finds the month closed.

    Only saves wasted work: the unique constraints on billing_months and host_billing_records are
    what make two records for one host-month impossible. SQLite has one writer at a time anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, month.year * 100 + month.month])


def _in_one_statement():
    """PostgreSQL writes the month in one statement; other databases (SQLite) in batches."""
    return connection.vendor == "postgresql"


def _write_bills(*, month, now, batch_size, progress):
    """Compute every host's bill and insert its record, lines and waived lines.

    PostgreSQL: the host names, then one INSERT ... SELECT for the whole month. Elsewhere: the host
    names, the rates, the streamed servers (plus the billed ones' count when there is a progress
    bar), then a fixed number of INSERTs per batch.
    """
    names = dict(Host.objects.values_list("pk", "company_name"))
    if _in_one_statement():
        return _insert_bills_in_one_statement(month=month, now=now, names=names, progress=progress)
    total = billable_server_count(month=month) if progress else 0
    rows, records, lines, waived, done = [], [], [], [], 0

    def flush():
        if records:
            BillingRecord.objects.bulk_create(records)
            BillingLine.objects.bulk_create(lines, batch_size=batch_size)
            BillingWaivedLine.objects.bulk_create(waived, batch_size=batch_size)
        records.clear()
        lines.clear()
        waived.clear()

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
        waived.extend(BillingWaivedLine(record_id=record.pk, **asdict(line)) for line in bill.waived_lines)
        rows.append(
            SummaryRow(
                host_id=bill.host_id,
                company_name=names[bill.host_id],
                active_license_count=record.active_license_count,
                wholesale_rate_usd=record.wholesale_rate_usd,
                total_amount_usd=record.total_amount_usd,
            )
        )
        if len(lines) + len(waived) >= batch_size or len(records) >= batch_size:
            flush()
        done += bill.active_license_count
        if progress:
            progress(done, total)
    flush()
    rows.sort(key=lambda row: (row.company_name.lower(), str(row.host_id)))
    return rows


# On PostgreSQL the month is written by one INSERT ... SELECT: the rows never travel to Python and
# back, which made the close 7.5 times slower than the database's own work (BENCHMARKS.md). The
# billing rule is still rules.py's alone: its querysets are compiled into the statement, which only
# routes each server to the lines or the waived lines by the rule's `waived`. ROUND(x, 2) is
# corrosion.money.money_round, repeated in SQL.
_INSERT_BILLS = """
WITH servers AS MATERIALIZED ({servers}),
rates AS ({rates}),
records AS (
    INSERT INTO {records} (id, host_id, billing_month, active_license_count, wholesale_rate_usd,
                           total_amount_usd, generated_at)
    SELECT gen_random_uuid(), counts.host_id, %s, counts.billed, rates.rate, ROUND(counts.billed * rates.rate, 2), %s
      FROM (SELECT host_id, count(*) FILTER (WHERE NOT waived) AS billed FROM servers GROUP BY host_id) AS counts
      JOIN rates ON rates.id = counts.host_id
    RETURNING id, host_id, active_license_count, wholesale_rate_usd, total_amount_usd
),
lines AS (
    INSERT INTO {lines} (id, record_id, {line_columns})
    SELECT gen_random_uuid(), records.id, {server_columns}
      FROM servers JOIN records USING (host_id) WHERE NOT servers.waived
),
waived_lines AS (
    INSERT INTO {waived_lines} (id, record_id, {waived_line_columns})
    SELECT gen_random_uuid(), records.id, {server_columns}
      FROM servers JOIN records USING (host_id) WHERE servers.waived
)
SELECT host_id, active_license_count, wholesale_rate_usd, total_amount_usd FROM records
"""


def _columns(model):
    columns = {field.attname: field.column for field in model._meta.concrete_fields}
    return ", ".join(connection.ops.quote_name(columns[name]) for name in LINE_FIELDS)


def _insert_bills_in_one_statement(*, month, now, names, progress):
    # No ORDER BY: the statement groups and joins the rows, it never needs them sorted.
    servers, servers_params = server_months(month=month).order_by().query.sql_with_params()
    rates, rates_params = host_rate_rows(month=month).query.sql_with_params()
    quote = connection.ops.quote_name
    sql = _INSERT_BILLS.format(
        servers=servers,
        rates=rates,
        records=quote(BillingRecord._meta.db_table),
        lines=quote(BillingLine._meta.db_table),
        waived_lines=quote(BillingWaivedLine._meta.db_table),
        line_columns=_columns(BillingLine),
        waived_line_columns=_columns(BillingWaivedLine),
        server_columns=", ".join(f"servers.{quote(ROW_NAMES[name])}" for name in LINE_FIELDS),
    )
    with connection.cursor() as cursor:
        # The planner prices each server's status look-up as if every line ran it (only licenses
        # changed since the month's end do), which crosses jit_above_cost: compiling the plan took
        # longer than running it (5.1 s against 3.1 s for 170,000 lines on the bench data set).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, [*servers_params, *rates_params, month, now])
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


# --- Invoices -------------------------------------------------------------------------------------


def invoice_number(year: int, sequence: int) -> str:
    return f"INV-{year}-{sequence:05d}"


def _take_invoice_numbers(*, year: int, count: int) -> int:
    """Reserve `count` consecutive numbers of `year`; returns the first.

    The counter row is locked until the caller's transaction ends: two closers at once are
    serialised here, so they never share or skip a number, and a rollback returns the numbers.
    The row is created by an INSERT that ignores a conflict, so two first-of-the-year closers both
    end up locking the one row.
    """
    InvoiceNumberSequence.objects.bulk_create([InvoiceNumberSequence(year=year, last=0)], ignore_conflicts=True)
    counter = InvoiceNumberSequence.objects.select_for_update().get(year=year)
    first = counter.last + 1
    counter.last += count
    counter.save(update_fields=["last"])
    return first


def invoice_issue_for_month(*, month: date, now, actor: Actor) -> list[tuple]:
    """Issue an invoice for each record of `month` above 0.00 that has none, numbered in company order.

    Call it inside the transaction that closes the month (or that issues a past month's missing
    invoices): the numbers are taken there and given back if it rolls back. A record that has an
    invoice, voided or not, never gets another (the one-to-one on the record is the backstop).
    Returns (number, company name, total) per invoice issued.
    """
    records = list(
        BillingRecord.objects.filter(billing_month=month, total_amount_usd__gt=0, invoice__isnull=True)
        .select_related("host")
        .order_by("host__company_name", "host_id")
    )
    if not records:
        return []
    first = _take_invoice_numbers(year=now.year, count=len(records))
    issuer_name, *issuer_address = settings.INVOICE_ISSUER or (DEFAULT_ISSUER_NAME,)
    due_date = (now + timedelta(days=settings.INVOICE_DUE_DAYS)).date()
    invoices = [
        Invoice(
            number=invoice_number(now.year, first + offset),
            year=now.year,
            sequence=first + offset,
            record=record,
            host=record.host,
            billing_month=month,
            issued_at=now,
            due_date=due_date,
            active_license_count=record.active_license_count,
            wholesale_rate_usd=record.wholesale_rate_usd,
            total_amount_usd=record.total_amount_usd,
            issuer_name=issuer_name,
            issuer_address="\n".join(issuer_address),
            buyer_company_name=record.host.company_name,
            buyer_contact_email=record.host.contact_email,
            buyer_billing_address=record.host.billing_address,
            buyer_tax_id=record.host.tax_id,
        )
        for offset, record in enumerate(records)
    ]
    Invoice.objects.bulk_create(invoices, batch_size=BATCH_SIZE)
    invoice_events_record(invoices, "invoice.issued")  # each also e-mails its PDF, once committed
    # One audit event for the batch: the close may issue thousands, and each invoice names its month.
    audit_record(
        actor=actor,
        action="invoices.issued",
        target=invoices[0],
        data={
            "month": month_format(month),
            "count": len(invoices),
            "first": invoices[0].number,
            "last": invoices[-1].number,
        },
        occurred_at=now,
    )
    return [(invoice.number, invoice.buyer_company_name, invoice.total_amount_usd) for invoice in invoices]


DEFAULT_ISSUER_NAME = "Corrosion"


@transaction.atomic
def invoices_issue_missing(*, month: date, actor: Actor) -> list[tuple]:
    """Issue the invoices a closed month lacks (one closed before invoices existed). Safe to re-run:
    a record with an invoice, voided included, is never invoiced again."""
    if not month_is_closed(month=month):
        raise DomainError(ErrorCode.MONTH_NOT_CLOSED, f"{month_format(month)} is not closed: close it first.")
    _lock_month(month)  # a second run waits, then finds nothing missing
    return invoice_issue_for_month(month=month, now=timezone.now(), actor=actor)


def _open_invoice(invoice_id):
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status != InvoiceStatus.OPEN:
        raise DomainError(
            ErrorCode.INVOICE_NOT_OPEN,
            f"Invoice {invoice.number} is {invoice.status}: only an open invoice can change.",
        )
    return invoice


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, paid_at: date, payment_reference: str, actor: Actor) -> Invoice:
    """Record the payment of an open invoice: its date (not in the future) and reference. Final."""
    reference = (payment_reference or "").strip()
    errors = {}
    if paid_at is None:
        errors["paid_at"] = ["The payment date is required."]
    elif paid_at > timezone.now().date():
        errors["paid_at"] = ["The payment date cannot be in the future."]
    if not reference:
        errors["payment_reference"] = ["The payment reference is required."]
    elif len(reference) > 200:
        errors["payment_reference"] = ["The payment reference must be at most 200 characters."]
    if errors:
        raise DomainError(ErrorCode.INVALID, "The payment needs a date and a reference.", fields=errors)
    invoice = _open_invoice(invoice.pk)
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = paid_at
    invoice.payment_reference = reference
    invoice.save(update_fields=["status", "paid_at", "payment_reference"])
    invoice_events_record([invoice], "invoice.paid")
    audit_record(
        actor=actor,
        action="invoice.paid",
        target=invoice,
        data={"number": invoice.number, "paid_at": paid_at.isoformat(), "payment_reference": reference},
    )
    return invoice


@transaction.atomic
def invoice_void(*, invoice: Invoice, reason: str, actor: Actor) -> Invoice:
    """Void an open invoice, with the reason. Final: there is no credit note yet, and its month is
    never invoiced again."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 1000:
        raise DomainError(
            ErrorCode.INVALID,
            "A reason (up to 1000 characters) is required to void an invoice.",
            fields={"void_reason": ["A reason (up to 1000 characters) is required."]},
        )
    invoice = _open_invoice(invoice.pk)
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = timezone.now()
    invoice.void_reason = reason
    invoice.save(update_fields=["status", "voided_at", "void_reason"])
    invoice_events_record([invoice], "invoice.voided")
    audit_record(
        actor=actor, action="invoice.voided", target=invoice, data={"number": invoice.number, "reason": reason}
    )
    return invoice
