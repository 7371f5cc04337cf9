import pytest

from tests.billing.helpers import at


@pytest.fixture
def frozen(time_machine):
    """The clock stopped on 2026-06-10 12:00 UTC: May 2026 is closable, June is open."""
    time_machine.move_to(at(2026, 6, 10, 12), tick=False)
    return time_machine
