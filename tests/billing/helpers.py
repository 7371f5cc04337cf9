from datetime import UTC, datetime


def at(*args):
    """An aware UTC moment: at(2026, 3, 31, 23, 59, 59)."""
    return datetime(*args, tzinfo=UTC)
