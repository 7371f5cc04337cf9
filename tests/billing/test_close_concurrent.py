"""Two close_billing_month processes at the same moment, on the real PostgreSQL (SPEC: safe to run twice at once)."""

import os
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from billing.models import BillingLine, BillingMonth, BillingRecord
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
