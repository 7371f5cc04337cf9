"""Calendar months in UTC: the unit billing counts in.

A month is the `date` of its first day. Its moments run from `month_start` (included) to
`month_end` (excluded), so "the month's last moment" is anything just before `month_end`.
"""

import re
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

# fullmatch and [0-9]: `$` also matches before a trailing newline ("2026-01\n", a path ending in
# %0A) and \d matches any script's digits ("٢٠٢٦-01"); both read as 2026-01 before.
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
# Before 1970 nothing was billed; the top year leaves room for month_end's next month.
FIRST_YEAR, LAST_YEAR = 1970, 9998


def month_parse(value: str) -> date:
    """ "YYYY-MM" → the month's first day; ValueError for anything else."""
    match = _MONTH.fullmatch(value or "")
    if match is None:
        raise ValueError(f"{value!r} is not a month: use YYYY-MM, e.g. 2026-01.")
    year, month = int(match.group(1)), int(match.group(2))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"{value!r} is out of range: years {FIRST_YEAR} to {LAST_YEAR}.")
    return date(year, month, 1)


def month_format(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def month_of(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def month_next(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def month_previous(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def month_end(month: date) -> datetime:
    """The first moment after the month (excluded from it)."""
    return month_start(month_next(month))


def billing_grace() -> timedelta:
    return timedelta(hours=settings.BILLING_GRACE_HOURS)


def month_closable_from(month: date) -> datetime:
    """A late mistake (terminated within the grace) must still be free, so closing waits for it."""
    return month_end(month) + billing_grace()


def month_is_closable(month: date, *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= month_closable_from(month)


def month_latest_closable(*, now: datetime | None = None) -> date:
    """The newest month whose end plus the grace period has passed."""
    now = now or timezone.now()
    month = month_previous(month_of(now))
    while not month_is_closable(month, now=now):
        month = month_previous(month)
    return month
