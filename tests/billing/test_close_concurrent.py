"""Two close_billing_month processes at the same moment, on the real PostgreSQL (SPEC: safe to run twice at once)."""

import os
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from billing.models import BillingLine, BillingMonth, BillingRecord, Invoice, InvoiceNumberSequence
from billing.months import month_format, month_latest_closable, month_previous, month_start
from billing.services import LOCK_NAMESPACE, month_close
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

REPO = Path(__file__).resolve().parents[2]
MAY = date(2026, 5, 1)
LOCK_KEY = MAY.year * 100 + MAY.month


def _database_url():
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _waiting_for_the_month_lock():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2",
            [LOCK_NAMESPACE, LOCK_KEY],
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres_only
@pytest.mark.slow
def test_two_closers_started_together_write_each_host_month_once(transactional_db):
    hosts = [HostFactory(wholesale_rate_usd=Decimal(rate)) for rate in ("6.00", "4.75", "7.10")]
    for index, host in enumerate(hosts):
        for n in range(5 + index * 7):
            HostLicenseFactory(host=host, server_identifier=f"rust-{n:03d}", provisioned_at=at(2026, 5, 2))
    expected = {
        row.host_id: (row.active_license_count, row.wholesale_rate_usd, row.total_amount_usd)
        for row in month_close(month=MAY, actor=Actor.command("tests"), dry_run=True).rows
    }
    assert len(expected) == 3

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "localhost",
    }
    command = [sys.executable, "manage.py", "close_billing_month", "--month", "2026-05"]

    # Hold the month's lock so both processes are queued on it before either may start writing:
    # they then race from the same moment, whatever their start-up times.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, LOCK_KEY])
    processes = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while _waiting_for_the_month_lock() < 2:
            early = [process for process in processes if process.poll() is not None]
            assert not early, early[0].communicate()
            assert time.monotonic() < deadline, "the two closers never both reached the month's lock"
            time.sleep(0.05)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, LOCK_KEY])
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    stdout = sorted(out for out, _ in outputs)
    assert sum("Closed 2026-05" in out for out in stdout) == 1
    assert sum("already closed" in out for out in stdout) == 1
    assert BillingMonth.objects.filter(month=MAY).count() == 1
    assert AuditEvent.objects.filter(action="billing.month_closed").count() == 1
    records = BillingRecord.objects.filter(billing_month=MAY)
    assert records.count() == 3
    assert {
        record.host_id: (record.active_license_count, record.wholesale_rate_usd, record.total_amount_usd)
        for record in records
    } == expected
    assert BillingLine.objects.count() == 5 + 12 + 19
    # The losing closer issued nothing: one invoice per host, numbers 1 to 3.
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == [1, 2, 3]


def _waiting_for_the_invoice_counter():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query LIKE %s",
            ["%invoice_number_sequences%FOR UPDATE%"],
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres_only
@pytest.mark.slow
def test_two_months_closed_at_once_share_no_invoice_number_and_skip_none(transactional_db):
    """Two closers of different months hold different month locks, so only the year's counter row
    serialises their numbers: each month's invoices get a consecutive run, the two runs together are
    1..N with no gap and no number twice."""
    later = month_latest_closable()
    earlier = month_previous(later)
    hosts = [HostFactory(company_name=f"Racer {n}") for n in range(6)]
    for host in hosts:
        HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=month_start(earlier))
    year = timezone.now().year
    InvoiceNumberSequence.objects.create(year=year, last=0)

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "localhost",
    }
    holder = psycopg_connection()
    try:
        # Hold the counter row so both closers are queued on it before either may take a number.
        holder.execute("SELECT * FROM invoice_number_sequences WHERE year = %s FOR UPDATE", [year])
        processes = [
            subprocess.Popen(
                [sys.executable, "manage.py", "close_billing_month", "--month", month_format(month)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for month in (earlier, later)
        ]
        deadline = time.monotonic() + 60
        while _waiting_for_the_invoice_counter() < 2:
            early = [process for process in processes if process.poll() is not None]
            assert not early, early[0].communicate()
            assert time.monotonic() < deadline, "the two closers never both reached the invoice counter"
            time.sleep(0.05)
    finally:
        holder.rollback()
        holder.close()
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs

    sequences = {
        month: sorted(Invoice.objects.filter(billing_month=month).values_list("sequence", flat=True))
        for month in (earlier, later)
    }
    assert [len(run) for run in sequences.values()] == [6, 6]
    for run in sequences.values():
        assert run == list(range(run[0], run[0] + 6))  # each close's numbers are one consecutive run
    assert sorted(sequences[earlier] + sequences[later]) == list(range(1, 13))
    assert InvoiceNumberSequence.objects.get(year=year).last == 12


def psycopg_connection():
    return psycopg.connect(_database_url(), autocommit=False)
