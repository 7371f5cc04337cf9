from datetime import UTC, datetime


def at(*args):
    """An aware UTC moment: at(2026, 3, 31, 23, 59, 59)."""
    return datetime(*args, tzinfo=UTC)


def bill_in_mode(*, host, month):
    """The host's bill in the mode factories build licenses in (see the `livemode` fixture)."""
    from billing.selectors import bill_for
    from tests.factories import factory_livemode

    return bill_for(host=host, month=month, livemode=factory_livemode())
