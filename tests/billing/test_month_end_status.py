"""A line describes its month, never the day it was closed: the license's status at the month's end
(from its status history), and its termination time only when it was terminated within the month."""

from datetime import date

import pytest

from audit.services import Actor
from billing.models import BillingLine
from billing.selectors import bill_for
from billing.services import month_close
from licensing.models import LicenseStatus
from licensing.services import license_resume, license_suspend, license_terminate
from tests.billing.helpers import at
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

OCTOBER = date(2026, 10, 1)
STAFF = Actor("staff", "alice")


@pytest.fixture
def frozen(time_machine):
    """October 2026 ended; the clock runs from 2026-10-01 as each test moves it."""
    time_machine.move_to(at(2026, 10, 1), tick=False)
    return time_machine


@pytest.fixture
def server():
    return HostLicenseFactory(host=HostFactory(), server_identifier="rust-1", provisioned_at=at(2026, 9, 1))


def close_october(frozen):
    frozen.move_to(at(2026, 12, 4), tick=False)
    month_close(month=OCTOBER, actor=Actor.command("tests"))
    return BillingLine.objects.get()


def test_active_all_october_and_suspended_on_30_november_reads_active(server, frozen, close_path):
    frozen.move_to(at(2026, 11, 30, 9), tick=False)
    license_suspend(host_license=server, actor=STAFF)
    line = close_october(frozen)
    assert (line.status, line.terminated_at) == ("active", None)


def test_terminated_after_the_month_reads_its_status_at_the_months_end_and_no_termination(server, frozen, close_path):
    frozen.move_to(at(2026, 10, 20), tick=False)
    license_suspend(host_license=server, actor=STAFF)
    frozen.move_to(at(2026, 11, 2), tick=False)
    license_terminate(host_license=server, actor=STAFF)
    line = close_october(frozen)
    assert (line.status, line.terminated_at) == ("suspended", None)


def test_terminated_within_the_month_reads_terminated_with_its_time(server, frozen, close_path):
    frozen.move_to(at(2026, 10, 31, 23, 59, 59), tick=False)
    license_terminate(host_license=server, actor=STAFF)
    line = close_october(frozen)
    assert (line.status, line.terminated_at) == ("terminated", at(2026, 10, 31, 23, 59, 59))


def test_suspended_and_resumed_within_the_month_reads_active(server, frozen, close_path):
    frozen.move_to(at(2026, 10, 5), tick=False)
    license_suspend(host_license=server, actor=STAFF)
    frozen.move_to(at(2026, 10, 6), tick=False)
    license_resume(host_license=server, actor=STAFF)
    frozen.move_to(at(2026, 11, 1), tick=False)  # the next month's first moment is not October's
    license_suspend(host_license=server, actor=STAFF)
    line = close_october(frozen)
    assert line.status == "active"


def test_changes_within_one_clock_tick_keep_their_order(server, frozen, close_path):
    frozen.move_to(at(2026, 10, 31, 12), tick=False)
    license_suspend(host_license=server, actor=STAFF)
    license_resume(host_license=server, actor=STAFF)
    license_suspend(host_license=server, actor=STAFF)
    line = close_october(frozen)
    assert line.status == "suspended"


def test_the_open_bill_reads_the_same_as_the_close_will(server, frozen):
    frozen.move_to(at(2026, 11, 30, 9), tick=False)
    license_suspend(host_license=server, actor=STAFF)
    frozen.move_to(at(2026, 12, 1, 9), tick=False)
    (line,) = bill_for(host=server.host, month=OCTOBER, livemode=True).lines
    assert (line.status, line.terminated_at) == ("active", None)
    (line,) = bill_for(host=server.host, month=date(2026, 11, 1), livemode=True).lines
    assert line.status == "suspended"


def test_a_license_without_history_reads_its_current_status(frozen, close_path):
    # Rows written by hand, outside the services (e.g. an old import): the close still closes.
    host_license = HostLicenseFactory(
        server_identifier="rust-1",
        status=LicenseStatus.SUSPENDED,
        provisioned_at=at(2026, 9, 1),
        status_history=False,
    )
    assert not host_license.license.status_changes.exists()
    line = close_october(frozen)
    assert line.status == "suspended"


def test_a_months_line_keeps_describing_its_month_across_later_months(server, frozen):
    frozen.move_to(at(2026, 11, 15), tick=False)
    license_suspend(host_license=server, actor=STAFF)
    frozen.move_to(at(2026, 12, 20), tick=False)
    license_terminate(host_license=server, actor=STAFF)
    frozen.move_to(at(2027, 1, 5), tick=False)
    statuses = {
        month: [
            (line.status, line.terminated_at) for line in bill_for(host=server.host, month=month, livemode=True).lines
        ]
        for month in (OCTOBER, date(2026, 11, 1), date(2026, 12, 1))
    }
    assert statuses == {
        OCTOBER: [("active", None)],
        date(2026, 11, 1): [("suspended", None)],
        date(2026, 12, 1): [("terminated", at(2026, 12, 20))],
    }
