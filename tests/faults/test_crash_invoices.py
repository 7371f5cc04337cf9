"""A close killed (SIGKILL) while it issues invoices takes no invoice number (issue 15).

The close takes its numbers from the year's counter row, then inserts the invoices, in the month's
one transaction. Each kill is aimed: a lock the closer needs next is held until the closer is
blocked on it inside its transaction, then the closer is killed there: waiting for the counter row,
then with its numbers taken, at the invoices' INSERT. Either way nothing of the month stands, the
counter is where it was, and the re-run numbers the invoices from where the counter was.
"""

import subprocess
import sys
import time
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import BillingMonth, BillingRecord, Invoice, InvoiceNumberSequence
from billing.months import month_format, month_latest_closable, month_previous, month_start
from tests.factories import HostFactory, HostLicenseFactory
from tests.faults.support import (
    REPO,
    database_sessions,
    database_url,
    kill,
    stop_process,
    subprocess_env,
    wait_for_no_open_transaction,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOSTS = 4


def wait_for_blocked(application_name, waits_in, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, _, in_xact, query in database_sessions(application_name):
            if in_xact and waits_in in query:
                return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize(
    ("moment", "blocker", "waits_in"),
    [
        (
            "waiting for the year's counter",
            "SELECT * FROM invoice_number_sequences WHERE year = %s FOR UPDATE",
            "invoice_number_sequences",
        ),
        ("numbers taken, at the invoices' INSERT", "LOCK TABLE invoices IN EXCLUSIVE MODE", 'INSERT INTO "invoices"'),
    ],
)
def test_a_close_killed_while_issuing_invoices_takes_no_number(moment, blocker, waits_in):
    app = "corrosion-crash-invoices"
    year = timezone.now().year
    month = month_latest_closable()
    earlier = month_previous(month)
    for h in range(HOSTS):
        host = HostFactory(company_name=f"Crash Invoices {h}")
        HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=month_start(earlier))
    # An earlier month closed cleanly first: its invoices hold numbers 1-4 of the year (unless the
    # year has just turned), so the counter already stands somewhere when the kill comes.
    call_command("close_billing_month", "--month", month_format(earlier), stdout=StringIO())
    InvoiceNumberSequence.objects.get_or_create(year=year)
    before = dict(InvoiceNumberSequence.objects.values_list("year", "last"))

    env = subprocess_env(DATABASE_URL=database_url(application_name=app))
    holder = psycopg.connect(database_url(), autocommit=False)
    try:
        holder.execute(blocker, [year] if "%s" in blocker else None)
        command = [sys.executable, "manage.py", "close_billing_month", "--month", month_format(month)]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert wait_for_blocked(app, waits_in), f"the closer never blocked {moment}"
            time.sleep(0.1)
            kill(process.pid)
            process.wait(timeout=30)
        finally:
            stop_process(process)
            process.stdout.close()
            process.stderr.close()
    finally:
        holder.rollback()
        holder.close()
    wait_for_no_open_transaction(app)

    assert not BillingMonth.objects.filter(month=month).exists(), moment
    assert not BillingRecord.objects.filter(billing_month=month).exists()
    assert not Invoice.objects.filter(billing_month=month).exists()
    assert dict(InvoiceNumberSequence.objects.values_list("year", "last")) == before, moment

    out = StringIO()
    call_command("close_billing_month", "--month", month_format(month), stdout=out)
    assert f"Closed {month_format(month)}" in out.getvalue()
    numbers = sorted(Invoice.objects.filter(year=year).values_list("sequence", flat=True))
    assert numbers == list(range(1, len(numbers) + 1)), numbers  # gapless: nothing was lost to the kill
    assert InvoiceNumberSequence.objects.get(year=year).last == len(numbers)
    assert Invoice.objects.filter(billing_month=month).count() == HOSTS
    assert "checks hold" in _check_integrity()


def _check_integrity():
    out = StringIO()
    call_command("check_integrity", stdout=out)
    return out.getvalue()
