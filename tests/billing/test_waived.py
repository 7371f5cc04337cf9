"""The grace rule (SPEC: Billing rule): a server is waived for a month only when its licenses held in
that month were all terminated within the grace and together held for less than it. Waived servers
are kept, as waived lines, in the open bill and in the closed record."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from audit.services import Actor
from billing.models import BillingLine, BillingRecord, BillingWaivedLine
from billing.services import month_close
from licensing.models import LicenseStatus
from tests.billing.helpers import at, bill_in_mode
from tests.factories import HostFactory, HostLicenseFactory

# The rule is the same in both modes: each test runs with live licenses, then with test ones
# (a test key's bill is computed by the same rule; only live licenses are ever closed).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen", "livemode")]

MAY, JUNE = date(2026, 5, 1), date(2026, 6, 1)
SECOND = timedelta(seconds=1)
GRACE = timedelta(hours=72)


@pytest.fixture
def host():
    return HostFactory(wholesale_rate_usd=Decimal("6.00"))


def held(host, provisioned_at, duration, server="rust-1"):
    """A license of `server`, terminated `duration` after its provisioning."""
    return HostLicenseFactory(
        host=host,
        server_identifier=server,
        status=LicenseStatus.TERMINATED,
        provisioned_at=provisioned_at,
        terminated_at=provisioned_at + duration,
    )


def billed_and_waived(host, month=MAY):
    bill = bill_in_mode(host=host, month=month)
    return [line.server_id for line in bill.lines], [line.server_id for line in bill.waived_lines]


def test_back_to_back_short_licenses_are_billed(host):
    # Terminated and re-provisioned every 71 hours: each license alone is a "mistake", together they
    # held the server far longer than the grace.
    start = at(2026, 5, 2)
    for cycle in range(8):
        held(host, start + cycle * timedelta(hours=71), timedelta(hours=71))
    bill = bill_in_mode(host=host, month=MAY)
    assert [line.server_id for line in bill.lines] == ["rust-1"]
    assert bill.total_amount_usd == Decimal("6.00")
    assert list(bill.waived_lines) == []


def test_two_genuine_mistakes_in_one_month_are_waived(host):
    held(host, at(2026, 5, 3, 10), timedelta(hours=1))
    held(host, at(2026, 5, 20, 10), timedelta(hours=2))
    assert billed_and_waived(host) == ([], ["rust-1"])
    assert bill_in_mode(host=host, month=MAY).total_amount_usd == Decimal("0.00")


def test_a_mistake_across_a_month_boundary_is_waived_in_both_months(host):
    license = held(host, at(2026, 5, 31, 20), timedelta(hours=10))
    assert billed_and_waived(host, MAY) == ([], ["rust-1"])
    assert billed_and_waived(host, JUNE) == ([], ["rust-1"])
    # Each month's waived line describes that month: still active at May's end, terminated in June.
    (may,) = bill_in_mode(host=host, month=MAY).waived_lines
    (june,) = bill_in_mode(host=host, month=JUNE).waived_lines
    assert (may.license_id, may.status, may.terminated_at) == (license.license_id, "active", None)
    assert (june.status, june.terminated_at) == ("terminated", at(2026, 6, 1, 6))


def test_a_license_held_across_the_boundary_counts_its_whole_time_in_each_month(host):
    # 40 hours from April into May, then 40 hours in May: 80 hours held in May, billed there; April
    # holds only the first (40 hours): waived.
    held(host, at(2026, 4, 30, 8), timedelta(hours=40))
    held(host, at(2026, 5, 10), timedelta(hours=40))
    assert billed_and_waived(host, MAY) == (["rust-1"], [])
    assert billed_and_waived(host, date(2026, 4, 1)) == ([], ["rust-1"])


def test_short_licenses_in_earlier_months_do_not_count(host):
    held(host, at(2026, 4, 10), timedelta(hours=71))
    held(host, at(2026, 5, 10), timedelta(hours=71))
    assert billed_and_waived(host, MAY) == ([], ["rust-1"])


def test_one_license_terminated_exactly_at_the_grace_is_billed(host):
    held(host, at(2026, 5, 10, 8), GRACE)
    assert billed_and_waived(host) == (["rust-1"], [])


def test_one_license_terminated_just_inside_the_grace_is_waived(host):
    held(host, at(2026, 5, 10, 8), GRACE - SECOND)
    assert billed_and_waived(host) == ([], ["rust-1"])


def test_licenses_held_together_just_under_the_grace_are_waived(host):
    held(host, at(2026, 5, 3), GRACE / 2)
    held(host, at(2026, 5, 20), GRACE / 2 - SECOND)
    assert billed_and_waived(host) == ([], ["rust-1"])


def test_licenses_held_together_for_exactly_the_grace_are_billed(host):
    held(host, at(2026, 5, 3), GRACE / 2)
    held(host, at(2026, 5, 20), GRACE / 2)
    assert billed_and_waived(host) == (["rust-1"], [])


def test_a_license_still_held_is_never_waived(host):
    held(host, at(2026, 5, 3), timedelta(hours=1))
    HostLicenseFactory(host=host, server_identifier="rust-1", provisioned_at=at(2026, 6, 10, 11))
    assert billed_and_waived(host, JUNE) == (["rust-1"], [])


def test_the_grace_follows_the_setting(host, settings):
    settings.BILLING_GRACE_HOURS = 2
    held(host, at(2026, 5, 3), timedelta(hours=1))
    held(host, at(2026, 5, 4), timedelta(hours=1))
    assert billed_and_waived(host) == (["rust-1"], [])


def test_servers_are_counted_apart(host):
    held(host, at(2026, 5, 3), timedelta(hours=1), server="mistake")
    held(host, at(2026, 5, 3), timedelta(hours=100), server="kept")
    HostLicenseFactory(host=host, server_identifier="running", provisioned_at=at(2026, 5, 4))
    assert billed_and_waived(host) == (["kept", "running"], ["mistake"])
    assert bill_in_mode(host=host, month=MAY).total_amount_usd == Decimal("12.00")


def test_a_waived_line_is_the_servers_last_license_held(host):
    held(host, at(2026, 5, 3), timedelta(hours=1))
    last = held(host, at(2026, 5, 9), timedelta(hours=1))
    (line,) = bill_in_mode(host=host, month=MAY).waived_lines
    assert (line.license_id, line.license_key, line.status) == (last.license_id, last.license.license_key, "terminated")
    assert (line.provisioned_at, line.terminated_at) == (at(2026, 5, 9), at(2026, 5, 9, 1))


# --- Closed: the record keeps its waived lines -------------------------------------------------


# The close writes live licenses only: these run in live mode.
live_only = pytest.mark.parametrize("livemode", [True], ids=["live"], indirect=True)


def close(month=MAY):
    return month_close(month=month, actor=Actor.command("tests"))


@live_only
def test_the_close_keeps_waived_servers_as_waived_lines(host, close_path):
    mistake = held(host, at(2026, 5, 3), timedelta(hours=1), server="mistake")
    held(host, at(2026, 5, 3), timedelta(hours=100), server="kept")
    close()
    record = BillingRecord.objects.get(host=host)
    assert (record.active_license_count, record.total_amount_usd) == (1, Decimal("6.00"))
    assert list(BillingLine.objects.filter(record=record).values_list("server_id", flat=True)) == ["kept"]
    waived = BillingWaivedLine.objects.get(record=record)
    assert (waived.server_id, waived.license_id, waived.status) == ("mistake", mistake.license_id, "terminated")
    assert waived.terminated_at == at(2026, 5, 3, 1)


@live_only
def test_a_host_whose_servers_were_all_waived_gets_a_zero_record_to_keep_them(host, close_path):
    held(host, at(2026, 5, 3), timedelta(hours=1))
    nothing = HostFactory()
    close()
    record = BillingRecord.objects.get(host=host)
    assert (record.active_license_count, record.total_amount_usd) == (0, Decimal("0.00"))
    assert record.wholesale_rate_usd == Decimal("6.00")
    assert BillingWaivedLine.objects.filter(record=record).count() == 1
    assert not BillingLine.objects.exists()
    assert not BillingRecord.objects.filter(host=nothing).exists()


@live_only
def test_the_closed_bill_equals_the_open_preview_with_its_waived_lines(host, close_path, frozen):
    held(host, at(2026, 5, 3), timedelta(hours=1), server="mistake")
    held(host, at(2026, 5, 31, 22), timedelta(hours=8), server="late-mistake")
    HostLicenseFactory(host=host, server_identifier="kept", provisioned_at=at(2026, 5, 4))
    frozen.move_to(at(2026, 6, 2), tick=False)
    preview = bill_in_mode(host=host, month=MAY)
    preview = (list(preview.lines), list(preview.waived_lines), preview.total_amount_usd)
    frozen.move_to(at(2026, 6, 4), tick=False)
    close()
    closed = bill_in_mode(host=host, month=MAY)
    assert (list(closed.lines), list(closed.waived_lines), closed.total_amount_usd) == preview
    assert [line.server_id for line in preview[1]] == ["late-mistake", "mistake"]
