"""check_integrity: silent on a sound database, and loud, naming the check, on each broken invariant.

Each invariant is broken behind the database's back (raw SQL, with PostgreSQL's triggers and the
check constraints that would refuse it put aside inside the test's transaction), as a bad restore or
a hand-made fix could.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests.scenario import build_history

pytestmark = pytest.mark.django_db


def check_integrity(*args):
    out = StringIO()
    call_command("check_integrity", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def history():
    return build_history()


def _behind_the_databases_back(statements):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # No trigger (append-only tables, foreign keys) fires for this session, and the one check
            # constraint a broken total needs is dropped; both end with the test's transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check pending before the ALTER
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "ALTER TABLE host_billing_records DROP CONSTRAINT host_billing_records_total_is_count_times_rate"
            )
            for statement in statements:
                cursor.execute(statement)
            return
        # SQLite's pragmas belong to the connection, not the transaction: they are put back, or
        # every later test on this connection would run with its checks off.
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        cursor.execute("PRAGMA foreign_keys = OFF")
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")
            cursor.execute("PRAGMA foreign_keys = ON")


def test_a_sound_history_holds_every_check(history):
    output = check_integrity()
    assert "violation" not in output
    assert "checks hold" in output


BREAKS = {
    "billing.totals": ["UPDATE host_billing_records SET total_amount_usd = total_amount_usd + 1"],
    "billing.lines": [
        "DELETE FROM host_billing_lines WHERE id = (SELECT id FROM host_billing_lines ORDER BY server_id LIMIT 1)"
    ],
    "billing.closed_months": ["DELETE FROM billing_months WHERE month = '2026-05-01'"],
    "billing.empty_records": ["DELETE FROM host_billing_waived_lines"],
    "hosts.rate_history": ["UPDATE hosts SET wholesale_rate_usd = 9.99"],
    # A number taken and never issued: the next invoice would skip it.
    "billing.invoice_numbers": ["UPDATE invoice_number_sequences SET last = last + 1"],
    "billing.invoice_amounts": ["UPDATE invoices SET total_amount_usd = total_amount_usd + 1"],
    "billing.invoices_issued": ["DELETE FROM invoices WHERE sequence = (SELECT max(sequence) FROM invoices)"],
    "licenses.copies": [
        "UPDATE host_licenses SET status = 'suspended' WHERE server_identifier = 'rust-00' AND status = 'active'"
    ],
    "licenses.status_history": [
        "UPDATE licenses SET status = 'suspended' WHERE id IN "
        "(SELECT license_id FROM host_licenses WHERE server_identifier = 'rust-06')",
        "UPDATE host_licenses SET status = 'suspended' WHERE server_identifier = 'rust-06'",
    ],
    "licenses.host_license": ["DELETE FROM host_licenses WHERE server_identifier = 'rust-07'"],
}


@pytest.mark.parametrize("check", sorted(BREAKS))
def test_a_broken_invariant_is_named_and_exits_non_zero(history, check):
    _behind_the_databases_back(BREAKS[check])
    out = StringIO()
    with pytest.raises(CommandError, match="violation"):
        call_command("check_integrity", stdout=out)
    assert f"{check}: " in out.getvalue(), out.getvalue()


def test_one_check_can_be_run_alone_and_an_unknown_one_is_refused(history):
    assert "All 1 checks hold." in check_integrity("--check", "billing.totals")
    with pytest.raises(CommandError, match="No check named nope"):
        check_integrity("--check", "nope")
