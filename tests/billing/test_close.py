"""close_billing_month: closing, re-running, refusing, and what the database refuses."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import Actor
from billing.models import BillingLine, BillingMonth, BillingRecord
from hosts.services import host_update
from licensing.models import LicenseStatus
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MAY = date(2026, 5, 1)


def close(*args, stdout=None):
    out = stdout or StringIO()
    call_command("close_billing_month", *args, stdout=out)
    return out.getvalue()


def licenses(host, count, provisioned_at=None):
    return [
        HostLicenseFactory(
            host=host, server_identifier=f"rust-{n:04d}", provisioned_at=provisioned_at or at(2026, 5, 2)
        )
        for n in range(count)
    ]


@pytest.fixture
def acme():
    return HostFactory(company_name="Acme Hosting", wholesale_rate_usd=Decimal("6.10"))


@pytest.fixture
def zeta():
    return HostFactory(company_name="Zeta Servers", wholesale_rate_usd=Decimal("5.00"))


def test_it_writes_one_record_per_host_with_its_lines_and_the_register(acme, zeta):
    licenses(acme, 3)
    licenses(zeta, 1)
    output = close("--month", "2026-05")

    records = {record.host_id: record for record in BillingRecord.objects.all()}
    assert set(records) == {acme.pk, zeta.pk}
    assert records[acme.pk].active_license_count == 3
    assert records[acme.pk].wholesale_rate_usd == Decimal("6.10")
    assert records[acme.pk].total_amount_usd == Decimal("18.30")
    assert records[zeta.pk].total_amount_usd == Decimal("5.00")
    assert BillingLine.objects.filter(record=records[acme.pk]).count() == 3
    register = BillingMonth.objects.get()
    assert register.month == MAY
    assert register.closed_by == "command:close_billing_month"
    assert "Closed 2026-05" in output
    assert "Acme Hosting" in output
    assert "23.30" in output


def test_it_copies_each_servers_last_license_into_its_line(acme):
    host_license = licenses(acme, 1)[0]
    close("--month", "2026-05")
    line = BillingLine.objects.get()
    assert (line.server_id, line.license_id, line.license_key, line.hostname) == (
        "rust-0000",
        host_license.license_id,
        host_license.license.license_key,
        host_license.license.hostname,
    )
    assert (line.customer_email, line.status) == (host_license.customer_email, "active")
    assert (line.provisioned_at, line.terminated_at) == (at(2026, 5, 2), None)


def test_it_audits_the_close(acme):
    licenses(acme, 2)
    close("--month", "2026-05")
    event = AuditEvent.objects.get(action="billing.month_closed")
    assert event.actor == "close_billing_month"
    assert event.target_id == str(BillingMonth.objects.get().pk)
    assert event.data == {"month": "2026-05", "hosts": 1, "servers": 2, "total_amount_usd": "12.20"}


def test_a_host_with_nothing_billable_gets_no_record(acme, zeta):
    licenses(acme, 1)
    close("--month", "2026-05")
    assert not BillingRecord.objects.filter(host=zeta).exists()


def test_closing_twice_changes_nothing_the_second_time(acme, zeta, frozen):
    licenses(acme, 2)
    licenses(zeta, 1)
    close("--month", "2026-05")
    before = list(BillingRecord.objects.values_list("id", "host_id", "total_amount_usd", "generated_at"))
    frozen.move_to(at(2026, 6, 20), tick=False)
    HostLicenseFactory(host=acme, server_identifier="late-joiner", provisioned_at=at(2026, 5, 3))

    output = close("--month", "2026-05")

    assert "already closed" in output
    assert list(BillingRecord.objects.values_list("id", "host_id", "total_amount_usd", "generated_at")) == before
    assert BillingLine.objects.count() == 3
    assert BillingMonth.objects.count() == 1
    assert AuditEvent.objects.filter(action="billing.month_closed").count() == 1


def test_it_refuses_a_month_whose_grace_period_has_not_passed(frozen):
    frozen.move_to(at(2026, 6, 3, 23, 59, 59), tick=False)
    with pytest.raises(CommandError, match="cannot be closed before 2026-06-04 00:00 UTC"):
        close("--month", "2026-05")
    assert not BillingMonth.objects.exists()


def test_it_closes_once_the_grace_period_has_passed(frozen):
    frozen.move_to(at(2026, 6, 4), tick=False)
    close("--month", "2026-05")
    assert BillingMonth.objects.filter(month=MAY).exists()


def test_it_refuses_the_current_month():
    with pytest.raises(CommandError, match="cannot be closed"):
        close("--month", "2026-06")


@pytest.mark.parametrize("month", ["2026-13", "26-05", "May", ""])
def test_it_refuses_a_malformed_month(month):
    with pytest.raises(CommandError, match="month"):
        close("--month", month)


def test_a_dry_run_prints_the_bills_and_writes_nothing(acme):
    licenses(acme, 2)
    output = close("--month", "2026-05", "--dry-run")
    assert "Dry run for 2026-05" in output
    assert "12.20" in output
    assert not BillingMonth.objects.exists()
    assert not BillingRecord.objects.exists()
    assert not BillingLine.objects.exists()
    assert not AuditEvent.objects.filter(action="billing.month_closed").exists()


def test_by_default_it_closes_the_latest_closable_month(acme, frozen):
    licenses(acme, 1, provisioned_at=at(2026, 3, 2))
    frozen.move_to(at(2026, 6, 3, 12), tick=False)  # May's grace is still running: April is the latest
    close()
    assert list(BillingMonth.objects.values_list("month", flat=True)) == [date(2026, 4, 1)]


def test_by_default_it_then_closes_the_latest_month_not_closed(acme):
    licenses(acme, 1, provisioned_at=at(2026, 3, 2))
    close("--month", "2026-05")
    close()
    assert sorted(BillingMonth.objects.values_list("month", flat=True)) == [date(2026, 4, 1), MAY]


def test_by_default_it_stops_at_the_first_license_ever_provisioned(acme):
    licenses(acme, 1, provisioned_at=at(2026, 4, 20))
    close()
    close()
    output = close()
    assert "Nothing to close" in output
    assert sorted(BillingMonth.objects.values_list("month", flat=True)) == [date(2026, 4, 1), MAY]


def test_it_draws_a_progress_bar_on_a_terminal(acme):
    class Terminal(StringIO):
        def isatty(self):
            return True

    licenses(acme, 4)
    output = close("--month", "2026-05", stdout=Terminal())
    assert "\r[" in output
    assert "100%  4/4 servers" in output


def test_it_draws_no_progress_bar_in_a_log(acme):
    licenses(acme, 4)
    assert "\r" not in close("--month", "2026-05")


def _queries_to_close(month, hosts, licenses_per_host, batch_size):
    """Close 2026-`month` over fresh hosts whose licenses live only in that month; count the queries."""
    first, last_second = date(2026, month, 1), at(2026, month + 1, 1) - timedelta(seconds=1)
    for _ in range(hosts):
        host = HostFactory()
        for n in range(licenses_per_host):
            HostLicenseFactory(
                host=host,
                server_identifier=f"rust-{n:04d}",
                status=LicenseStatus.TERMINATED,
                provisioned_at=at(2026, month, 1),
                terminated_at=last_second,
            )
    with CaptureQueriesContext(connection) as queries:
        close("--month", f"{first:%Y-%m}", "--batch-size", str(batch_size))
    assert BillingLine.objects.filter(record__billing_month=first).count() == hosts * licenses_per_host
    return len(queries)


@pytest.fixture
def sqlite_real_variable_limit():
    """Django 5.2 assumes SQLite's pre-3.32 limit of 999 variables and splits one INSERT into
    several; read the real limit so a batch is one INSERT on SQLite as on PostgreSQL."""
    if connection.vendor != "sqlite":
        yield
        return
    import sqlite3

    connection.ensure_connection()
    real = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    original = connection.features.max_query_params
    connection.features.max_query_params = real
    yield
    connection.features.max_query_params = original


@pytest.mark.usefixtures("sqlite_real_variable_limit")
def test_the_queries_of_a_close_do_not_grow_with_licenses():
    assert _queries_to_close(3, hosts=2, licenses_per_host=10, batch_size=1000) == _queries_to_close(
        4, hosts=2, licenses_per_host=100, batch_size=1000
    )


def test_the_queries_of_a_close_are_constant_per_batch():
    # 4 batches each time: the query count depends on the batches, not on the licenses in them.
    assert _queries_to_close(3, hosts=4, licenses_per_host=5, batch_size=5) == _queries_to_close(
        4, hosts=4, licenses_per_host=50, batch_size=50
    )


def test_a_suspended_and_a_re_provisioned_server_are_each_billed_once(acme):
    HostLicenseFactory(
        host=acme, server_identifier="paused", status=LicenseStatus.SUSPENDED, provisioned_at=at(2026, 1, 1)
    )
    HostLicenseFactory(
        host=acme,
        server_identifier="again",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 1, 1),
        terminated_at=at(2026, 5, 9),
    )
    HostLicenseFactory(host=acme, server_identifier="again", provisioned_at=at(2026, 5, 10))
    close("--month", "2026-05")
    assert BillingRecord.objects.get().active_license_count == 2
    assert sorted(BillingLine.objects.values_list("server_id", flat=True)) == ["again", "paused"]


# --- What the database refuses, whatever code writes --------------------------------------------


def record(host, **overrides):
    values = {
        "host": host,
        "billing_month": MAY,
        "active_license_count": 2,
        "wholesale_rate_usd": Decimal("6.10"),
        "total_amount_usd": Decimal("12.20"),
        "generated_at": at(2026, 6, 4),
    }
    values.update(overrides)
    return BillingRecord(**values)


def assert_refused(obj):
    with pytest.raises(IntegrityError), transaction.atomic():
        obj.save(force_insert=True)


def test_a_valid_record_is_accepted(acme):
    record(acme).save(force_insert=True)
    assert BillingRecord.objects.count() == 1


def test_the_database_refuses_two_records_for_one_host_month(acme):
    record(acme).save(force_insert=True)
    assert_refused(record(acme))


@pytest.mark.parametrize(
    "overrides",
    [
        {"billing_month": date(2026, 5, 2)},
        {"total_amount_usd": Decimal("12.21")},
        {"active_license_count": -1, "wholesale_rate_usd": Decimal("0.00"), "total_amount_usd": Decimal("0.00")},
        {"wholesale_rate_usd": Decimal("-6.10"), "total_amount_usd": Decimal("-12.20")},
        {"active_license_count": 0, "wholesale_rate_usd": Decimal("-1.00"), "total_amount_usd": Decimal("0.00")},
    ],
    ids=["not-a-first-day", "total-not-count-times-rate", "negative-count", "negative-rate-and-total", "negative-rate"],
)
def test_the_database_refuses_a_record_that_breaks_a_rule(acme, overrides):
    assert_refused(record(acme, **overrides))


def test_the_database_refuses_a_register_month_that_is_not_a_first_day():
    assert_refused(BillingMonth(month=date(2026, 5, 15), closed_at=at(2026, 6, 4), closed_by="tests"))


def test_the_database_refuses_a_month_closed_twice():
    BillingMonth.objects.create(month=MAY, closed_at=at(2026, 6, 4), closed_by="tests")
    assert_refused(BillingMonth(month=MAY, closed_at=at(2026, 6, 5), closed_by="tests"))


def test_the_database_refuses_a_server_twice_in_one_record(acme):
    host_license = licenses(acme, 1)[0]
    saved = record(acme)
    saved.save(force_insert=True)

    def line():
        return BillingLine(
            record=saved,
            server_id="rust-0000",
            license=host_license.license,
            license_key="CRN-1",
            hostname="play.example.test",
            customer_email="a@example.test",
            status="active",
            provisioned_at=at(2026, 5, 2),
        )

    line().save(force_insert=True)
    assert_refused(line())


# --- The rate in force at the month's end, whichever way the close writes ----------------------


def test_a_rate_changed_after_the_month_ended_and_before_the_close_does_not_apply(acme, zeta, frozen, close_path):
    licenses(acme, 2)
    licenses(zeta, 1)
    # June 2: May has ended, its grace is running, and both hosts' rates change before the close.
    frozen.move_to(at(2026, 6, 2, 9), tick=False)
    host_update(host=acme, wholesale_rate_usd=Decimal("9.99"), actor=Actor.command("tests"))
    host_update(host=zeta, wholesale_rate_usd=Decimal("0.50"), actor=Actor.command("tests"))
    frozen.move_to(at(2026, 6, 4, 0, 30), tick=False)
    close("--month", "2026-05")
    records = {r.host_id: (r.wholesale_rate_usd, r.total_amount_usd) for r in BillingRecord.objects.all()}
    assert records == {acme.pk: (Decimal("6.10"), Decimal("12.20")), zeta.pk: (Decimal("5.00"), Decimal("5.00"))}
