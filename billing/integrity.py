"""Invariants of closed months, records and their lines (see corrosion/integrity.py)."""

from decimal import Decimal

from django.db.models import Count, Exists, F, Min, OuterRef, Q, Subquery

from billing.models import BillingLine, BillingMonth, BillingRecord, BillingWaivedLine, Invoice, InvoiceNumberSequence
from billing.rules import bill_total
from corrosion.integrity import Check


def _totals_that_are_not_count_times_rate():
    rows = BillingRecord.objects.values_list("id", "active_license_count", "wholesale_rate_usd", "total_amount_usd")
    for record_id, count, rate, total in rows.iterator(chunk_size=2000):
        # In Python, with the one rounding the close uses: SQLite's decimals are floats in SQL.
        if Decimal(total) != bill_total(count=count, rate=Decimal(rate)):
            yield f"record {record_id}: total {total} is not {count} x {rate}"


def _counts_that_are_not_their_lines():
    lines = BillingLine.objects.filter(record=OuterRef("pk")).order_by().values("record").annotate(n=Count("id"))
    records = (
        BillingRecord.objects.annotate(lines_count=Subquery(lines.values("n")))
        .filter(~Q(active_license_count=F("lines_count")) | Q(lines_count__isnull=True, active_license_count__gt=0))
        .values_list("id", "active_license_count", "lines_count")
    )
    for record_id, count, lines_count in records.iterator():
        yield f"record {record_id}: count {count} but {lines_count or 0} lines"


def _empty_records_without_waived_lines():
    # A record of 0 servers exists only to keep the waived lines of a host with nothing billed.
    records = BillingRecord.objects.filter(active_license_count=0).exclude(
        pk__in=BillingWaivedLine.objects.values("record")
    )
    for record_id in records.values_list("id", flat=True).iterator():
        yield f"record {record_id} bills nothing and keeps no waived line"


def _records_of_months_not_closed():
    records = BillingRecord.objects.exclude(billing_month__in=BillingMonth.objects.values("month"))
    for record_id, month in records.values_list("id", "billing_month").iterator():
        yield f"record {record_id} is for {month:%Y-%m}, which is not in the closed-month register"


def _lines_of_other_hosts():
    for model, noun in ((BillingLine, "line"), (BillingWaivedLine, "waived line")):
        wrong = model.objects.filter(
            ~Q(license__host_license__host_id=F("record__host_id"))
            | ~Q(license__host_license__server_identifier=F("server_id"))
            | Q(license__livemode=False)
        )
        for line_id, record_id in wrong.values_list("id", "record_id").iterator():
            yield f"{noun} {line_id} of record {record_id} copies a license of another host, server or mode"


def _servers_billed_and_waived():
    both = BillingLine.objects.filter(
        record__waived_lines__server_id=F("server_id"),
    ).values_list("record_id", "server_id")
    for record_id, server_id in both.iterator():
        yield f"record {record_id}: server {server_id!r} is both billed and waived"


def _invoice_numbers_with_gaps():
    """Per year of issue: numbers 1, 2, 3 ... with no gap, the counter at the last, issued in number order."""
    counters = dict(InvoiceNumberSequence.objects.values_list("year", "last"))
    expected_year, expected, previous_issue = None, 0, None
    rows = Invoice.objects.order_by("year", "sequence").values_list("year", "sequence", "number", "issued_at")

    def year_end(year, last):
        if counters.get(year, 0) != last:
            yield f"invoice numbers of {year}: the counter says {counters.get(year, 0)}, the last invoice is {last}"

    for year, sequence, number, issued_at in rows.iterator(chunk_size=2000):
        if year != expected_year:
            if expected_year is not None:
                yield from year_end(expected_year, expected)
            expected_year, expected, previous_issue = year, 0, None
        if sequence != expected + 1:
            yield f"invoice numbers of {year}: {expected + 1} is followed by {sequence} (a gap or a repeat)"
        if number != f"INV-{year}-{sequence:05d}" or issued_at.year != year:
            yield f"invoice {number} is not numbered by its year of issue and its sequence ({year}, {sequence})"
        if previous_issue is not None and issued_at < previous_issue:
            yield f"invoice {number} was issued before the number preceding it"
        expected, previous_issue = sequence, issued_at
    if expected_year is not None:
        yield from year_end(expected_year, expected)
    for year in sorted(set(counters) - set(Invoice.objects.values_list("year", flat=True).distinct())):
        if counters[year]:
            yield f"invoice numbers of {year}: the counter says {counters[year]} but no invoice has one"


def _invoices_that_differ_from_their_records():
    wrong = Invoice.objects.exclude(
        host_id=F("record__host_id"),
        billing_month=F("record__billing_month"),
        active_license_count=F("record__active_license_count"),
        wholesale_rate_usd=F("record__wholesale_rate_usd"),
        total_amount_usd=F("record__total_amount_usd"),
    )
    for number, record_id in wrong.values_list("number", "record_id").iterator():
        yield f"invoice {number} does not repeat its record {record_id} (host, month, count, rate, total)"


def _records_missing_their_invoice():
    # Months closed before invoices existed legitimately have none (issue_invoices fills them in
    # when staff decide to). A month with any invoice, or closed since the first was issued, was
    # invoiced whole: each of its records above 0.00 has one.
    first_issue = Invoice.objects.aggregate(first=Min("issued_at"))["first"]
    if first_issue is None:
        return
    invoiced_months = Invoice.objects.values("billing_month")
    closed_since = BillingMonth.objects.filter(closed_at__gte=first_issue).values("month")
    missing = BillingRecord.objects.filter(
        Q(billing_month__in=invoiced_months) | Q(billing_month__in=closed_since),
        total_amount_usd__gt=0,
    ).exclude(Exists(Invoice.objects.filter(record=OuterRef("pk"))))
    for record_id, month in missing.values_list("id", "billing_month").iterator():
        yield f"record {record_id} of {month:%Y-%m} is billed but has no invoice"


CHECKS = [
    Check(
        "billing.totals",
        "a record's total is its count times its rate, rounded once",
        _totals_that_are_not_count_times_rate,
    ),
    Check("billing.lines", "a record's count is the number of its lines", _counts_that_are_not_their_lines),
    Check("billing.empty_records", "a record of 0 servers keeps waived lines", _empty_records_without_waived_lines),
    Check("billing.closed_months", "every record's month is closed", _records_of_months_not_closed),
    Check(
        "billing.line_licenses",
        "every line copies a live license of its record's host and server",
        _lines_of_other_hosts,
    ),
    Check(
        "billing.billed_or_waived", "a server is billed or waived in a month, never both", _servers_billed_and_waived
    ),
    Check(
        "billing.invoice_numbers",
        "invoice numbers are gapless and increasing within each year of issue",
        _invoice_numbers_with_gaps,
    ),
    Check(
        "billing.invoice_amounts",
        "an invoice repeats its record's host, month, count, rate and total",
        _invoices_that_differ_from_their_records,
    ),
    Check(
        "billing.invoices_issued",
        "every record above 0.00 of an invoiced month has its invoice",
        _records_missing_their_invoice,
    ),
]
