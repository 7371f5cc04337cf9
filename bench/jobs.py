"""The heavy jobs: month close against its SQL ceiling, and CSV exports' peak memory."""

import io
import os
import tempfile
import time
from dataclasses import dataclass

from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from bench import ceiling
from bench.rss import peak_rss
from billing.months import month_format


@dataclass(frozen=True)
class CloseResult:
    lines: int
    ceiling_seconds: float
    app_seconds: float


def _vacuum(*tables):
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def month_close(*, month):
    """The minimal SQL's time (committed, then deleted), then the app's close_billing_month's."""
    month_text = month_format(month)
    with connection.cursor() as cursor:
        # Read once what both will read, so neither pays for a cold cache the other warmed.
        cursor.execute(
            "SELECT count(*), max(l.license_key) FROM host_licenses hl JOIN licenses l ON l.id = hl.license_id"
        )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        lines = ceiling.close_month(cursor, month=month, now=timezone.now())
    ceiling_seconds = time.perf_counter() - started  # with its commit, as the app's time has one
    with transaction.atomic(), connection.cursor() as cursor:
        # Billing history refuses deletes (append-only triggers); these rows are the ceiling's own,
        # written only to be timed. The harness connects as a superuser, who may skip triggers.
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table in ("host_billing_lines", "host_billing_waived_lines"):
            cursor.execute(
                f"DELETE FROM {table} WHERE record_id IN (SELECT id FROM host_billing_records WHERE billing_month = %s)",
                [month],
            )
        cursor.execute("DELETE FROM host_billing_records WHERE billing_month = %s", [month])
        cursor.execute("DELETE FROM billing_months WHERE month = %s", [month])
    # The deleted rows leave dead index entries the app's inserts would wade through.
    _vacuum("host_billing_lines", "host_billing_waived_lines", "host_billing_records", "billing_months")
    started = time.perf_counter()
    call_command("close_billing_month", "--month", month_text, stdout=io.StringIO())
    app_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM host_billing_lines bl JOIN host_billing_records r ON r.id = bl.record_id "
            "WHERE r.billing_month = %s",
            [month],
        )
        written = cursor.fetchone()[0]
    if written != lines:
        raise RuntimeError(f"close_billing_month wrote {written} lines, the minimal SQL {lines}")
    return CloseResult(lines=lines, ceiling_seconds=ceiling_seconds, app_seconds=app_seconds)


@dataclass(frozen=True)
class MemoryResult:
    lines: int
    seconds: float
    peak_mb: float


def csv_memory(*, host_key, month):
    report, peak = peak_rss(["csv", host_key, month_format(month)], env=os.environ.copy())
    return MemoryResult(lines=report["lines"], seconds=report["seconds"], peak_mb=peak)


def export_memory(*, month):
    with tempfile.TemporaryDirectory() as directory:
        output = os.path.join(directory, "export.csv")
        report, peak = peak_rss(["export", month_format(month), output], env=os.environ.copy())
    return MemoryResult(lines=report["lines"], seconds=report["seconds"], peak_mb=peak)


@dataclass(frozen=True)
class IntegrityResult:
    checks: int
    violations: int
    seconds: float
    output: str


def integrity():
    """`manage.py check_integrity` against the seeded database (after the benchmark's close)."""
    from corrosion.integrity import registered_checks

    out = io.StringIO()
    started = time.perf_counter()
    try:
        call_command("check_integrity", stdout=out, no_color=True)
        violations = 0
    except CommandError as error:  # the violations are in the output, one summary line per check
        out.write(f"{error}\n")
        violations = sum(int(line.split()[0]) for line in out.getvalue().splitlines() if "violation(s)  " in line)
        violations = violations or 1
    return IntegrityResult(
        checks=len(registered_checks()),
        violations=violations,
        seconds=time.perf_counter() - started,
        output=out.getvalue(),
    )


@dataclass(frozen=True)
class PdfResult:
    servers: int
    seconds: float
    peak_mb: float
    size_kb: float


def _invoice_number(*, host_id, month):
    from billing.models import Invoice

    # The month is closed by the close step; on a reused database closed before invoices existed,
    # issue_invoices gives it its invoices (both are no-ops when done).
    call_command("close_billing_month", "--month", month_format(month), stdout=io.StringIO())
    call_command("issue_invoices", "--month", month_format(month), stdout=io.StringIO())
    return Invoice.objects.get(host_id=host_id, billing_month=month).number


def invoice_pdf(*, host_id, host_key, month):
    """The PDF of a host's invoice for the closed month, in a fresh process: its time, peak RSS and size."""
    number = _invoice_number(host_id=host_id, month=month)
    report, peak = peak_rss(["pdf", host_key, number], env=os.environ.copy())
    return PdfResult(servers=report["lines"], seconds=report["seconds"], peak_mb=peak, size_kb=report["bytes"] / 1024)
