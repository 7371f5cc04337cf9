"""The billing rule's edges, on a frozen clock (SPEC: Billing rule)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import Actor
from billing.months import month_end, month_start
from billing.rules import bill_total, host_bills
from hosts.services import host_update
from licensing.models import LicenseStatus
from tests.billing.helpers import at, bill_in_mode
from tests.factories import HostFactory, HostLicenseFactory, factory_livemode

# The rule is the same in both modes: each test runs with live licenses, then with test ones
# (a test key's bill is computed by the same rule; only live licenses are ever closed).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen", "livemode")]

MAY = date(2026, 5, 1)
SECOND = timedelta(seconds=1)
GRACE = timedelta(hours=72)


@pytest.fixture
def host():
    return HostFactory(wholesale_rate_usd=Decimal("6.00"))


def billed_servers(host, month=MAY):
    return [line.server_id for line in bill_in_mode(host=host, month=month).lines]


def test_a_server_held_all_month_is_billed_at_the_host_rate(host):
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 1, 5))
    bill = bill_in_mode(host=host, month=MAY)
    assert [line.server_id for line in bill.lines] == ["rust-1"]
    assert bill.active_license_count == 1
    assert bill.wholesale_rate_usd == Decimal("6.00")
    assert bill.total_amount_usd == Decimal("6.00")


def test_provisioned_in_the_months_last_second_is_billed(host):
    HostLicenseFactory(host=host, server_identifier="late", provisioned_at=at(2026, 5, 31, 23, 59, 59))
    assert billed_servers(host) == ["late"]


def test_provisioned_at_the_next_months_first_moment_is_not_billed(host):
    HostLicenseFactory(host=host, server_identifier="june", provisioned_at=at(2026, 6, 1))
    assert billed_servers(host) == []
    assert billed_servers(host, month=date(2026, 6, 1)) == ["june"]


def test_terminated_in_the_months_first_second_is_billed(host):
    HostLicenseFactory(
        host=host,
        server_identifier="gone",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 3, 1),
        terminated_at=at(2026, 5, 1, 0, 0, 0),
    )
    assert billed_servers(host) == ["gone"]


def test_terminated_in_the_previous_months_last_second_is_not_billed(host):
    HostLicenseFactory(
        host=host,
        server_identifier="gone",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 3, 1),
        terminated_at=at(2026, 4, 30, 23, 59, 59),
    )
    assert billed_servers(host) == []


def test_terminated_just_inside_the_grace_is_free(host):
    provisioned = at(2026, 5, 10, 8)
    HostLicenseFactory(
        host=host,
        server_identifier="mistake",
        status=LicenseStatus.TERMINATED,
        provisioned_at=provisioned,
        terminated_at=provisioned + GRACE - SECOND,
    )
    assert billed_servers(host) == []


def test_terminated_just_outside_the_grace_is_billed(host):
    provisioned = at(2026, 5, 10, 8)
    HostLicenseFactory(
        host=host,
        server_identifier="kept",
        status=LicenseStatus.TERMINATED,
        provisioned_at=provisioned,
        terminated_at=provisioned + GRACE,
    )
    assert billed_servers(host) == ["kept"]


def test_a_mistake_spanning_the_months_end_is_free_in_both_months(host):
    provisioned = at(2026, 5, 31, 20)
    HostLicenseFactory(
        host=host,
        server_identifier="mistake",
        status=LicenseStatus.TERMINATED,
        provisioned_at=provisioned,
        terminated_at=provisioned + GRACE - SECOND,
    )
    assert billed_servers(host) == []
    assert billed_servers(host, month=date(2026, 6, 1)) == []


def test_the_grace_follows_the_setting(host, settings):
    settings.BILLING_GRACE_HOURS = 1
    provisioned = at(2026, 5, 10, 8)
    HostLicenseFactory(
        host=host,
        server_identifier="kept",
        status=LicenseStatus.TERMINATED,
        provisioned_at=provisioned,
        terminated_at=provisioned + timedelta(hours=2),
    )
    assert billed_servers(host) == ["kept"]


def test_suspended_all_month_is_billed(host):
    HostLicenseFactory(
        host=host, server_identifier="paused", status=LicenseStatus.SUSPENDED, provisioned_at=at(2026, 2, 1)
    )
    bill = bill_in_mode(host=host, month=MAY)
    assert [(line.server_id, line.status) for line in bill.lines] == [("paused", "suspended")]


def test_a_server_re_provisioned_in_the_month_is_billed_once_with_its_last_license(host):
    first = HostLicenseFactory(
        host=host,
        server_identifier="rust-1",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 4, 1),
        terminated_at=at(2026, 5, 10),
    )
    second = HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 12))
    bill = bill_in_mode(host=host, month=MAY)
    assert bill.active_license_count == 1
    assert next(iter(bill.lines)).license_id == second.license_id != first.license_id
    assert bill.total_amount_usd == Decimal("6.00")


def test_the_line_is_the_servers_last_license_held_in_the_month_even_a_mistake(host):
    # Held 100 hours, then re-licensed and terminated after an hour: billed once, with the last.
    HostLicenseFactory(
        host=host,
        server_identifier="rust-1",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 5, 6),
        terminated_at=at(2026, 5, 10, 4),
    )
    last = HostLicenseFactory(
        host=host,
        server_identifier="rust-1",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 5, 12),
        terminated_at=at(2026, 5, 12, 1),
    )
    bill = bill_in_mode(host=host, month=MAY)
    assert [(line.license_id, line.status) for line in bill.lines] == [(last.license_id, "terminated")]
    assert bill.total_amount_usd == Decimal("6.00")
    assert list(bill.waived_lines) == []


def test_the_same_server_id_at_two_hosts_is_two_servers(host):
    other = HostFactory()
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    HostLicenseFactory(host=other, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    bills = {bill.host_id: bill.active_license_count for bill in host_bills(month=MAY, livemode=factory_livemode())}
    assert bills == {host.pk: 1, other.pk: 1}


def test_a_host_sees_only_its_own_servers(host):
    HostLicenseFactory(host=host, server_identifier="mine", provisioned_at=at(2026, 5, 2))
    HostLicenseFactory(server_identifier="theirs", provisioned_at=at(2026, 5, 2))
    assert billed_servers(host) == ["mine"]


def test_a_deactivated_host_keeps_being_billed(host, frozen):
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    host_update(host=host, active=False, actor=Actor.command("tests"))
    assert billed_servers(host) == ["rust-1"]


def test_a_rate_changed_after_the_month_ended_but_before_closing_does_not_apply(host, frozen):
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    frozen.move_to(at(2026, 6, 2, 9), tick=False)
    host_update(host=host, wholesale_rate_usd=Decimal("9.00"), actor=Actor.command("tests"))
    bill = bill_in_mode(host=host, month=MAY)
    assert bill.wholesale_rate_usd == Decimal("6.00")
    assert bill_in_mode(host=host, month=date(2026, 6, 1)).wholesale_rate_usd == Decimal("9.00")


def test_the_rate_in_force_at_the_months_last_moment_applies_to_the_whole_month(host, frozen):
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    frozen.move_to(at(2026, 5, 31, 23, 59, 59), tick=False)
    host_update(host=host, wholesale_rate_usd=Decimal("4.50"), actor=Actor.command("tests"))
    assert bill_in_mode(host=host, month=MAY).wholesale_rate_usd == Decimal("4.50")


def test_a_rate_effective_at_the_next_months_first_moment_does_not_apply(host, frozen):
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    frozen.move_to(at(2026, 6, 1), tick=False)
    host_update(host=host, wholesale_rate_usd=Decimal("4.50"), actor=Actor.command("tests"))
    assert bill_in_mode(host=host, month=MAY).wholesale_rate_usd == Decimal("6.00")


def test_a_host_without_rate_history_that_early_falls_back_to_its_rate():
    from hosts.models import Host, HostRate

    host = Host.objects.create(company_name="Late Hosting", contact_email="ops@late.test")
    Host.objects.filter(pk=host.pk).update(created_at=at(2026, 1, 1))
    host.refresh_from_db()
    HostRate.objects.create(host=host, wholesale_rate_usd=Decimal("6.00"), effective_from=at(2026, 7, 1))
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    assert bill_in_mode(host=host, month=MAY).wholesale_rate_usd == Decimal("6.00")


def test_the_total_is_count_times_rate_in_exact_decimals():
    host = HostFactory(wholesale_rate_usd=Decimal("6.10"))
    for n in range(3):
        HostLicenseFactory(host=host, server_identifier=f"rust-{n}", provisioned_at=at(2026, 5, 2))
    bill = bill_in_mode(host=host, month=MAY)
    assert bill.total_amount_usd == Decimal("18.30")
    assert str(bill.total_amount_usd) == "18.30"
    assert bill_total(count=7, rate=Decimal("0.15")) == Decimal("1.05")


@pytest.mark.parametrize(
    ("month", "days"),
    [(date(2026, 2, 1), 28), (date(2024, 2, 1), 29), (date(2026, 4, 1), 30), (date(2026, 1, 1), 31)],
)
def test_months_of_28_to_31_days_end_at_their_last_second(host, month, days):
    last_second = month_start(month) + timedelta(days=days) - SECOND
    assert month_end(month) == last_second + SECOND
    HostLicenseFactory(host=host, server_identifier="last", provisioned_at=last_second)
    HostLicenseFactory(host=host, server_identifier="next", provisioned_at=last_second + SECOND)
    HostLicenseFactory(
        host=host,
        server_identifier="before",
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2020, 1, 1),
        terminated_at=month_start(month) - SECOND,
    )
    assert billed_servers(host, month=month) == ["last"]


def test_host_bills_runs_two_queries_whatever_the_number_of_licenses():
    def queries_for(hosts, licenses_per_host):
        for _ in range(hosts):
            host = HostFactory()
            for n in range(licenses_per_host):
                HostLicenseFactory(host=host, server_identifier=f"rust-{n}", provisioned_at=at(2026, 5, 2))
        with CaptureQueriesContext(connection) as queries:
            bills = list(host_bills(month=MAY, livemode=factory_livemode()))
        return len(queries), sum(bill.active_license_count for bill in bills)

    small = queries_for(2, 5)
    large = queries_for(3, 30)
    assert small == (2, 10)
    assert large == (2, 100)


def test_rates_keep_their_two_decimal_places(host):
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 5, 2))
    assert str(bill_in_mode(host=host, month=MAY).wholesale_rate_usd) == "6.00"
