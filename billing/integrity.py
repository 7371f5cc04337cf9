"""Invariants of closed months, records and their lines (see corrosion/integrity.py)."""

from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery

from billing.models import BillingLine, BillingMonth, BillingRecord, BillingWaivedLine
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
]
