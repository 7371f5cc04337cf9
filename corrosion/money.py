"""Money: Decimal with two places, rounded in one place."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def money_round(value: Decimal) -> Decimal:
    """The one rounding of money: to the cent, halves away from zero.

    It is PostgreSQL's ROUND(numeric, 2) and SQLite's round(x, 2), which the SQL that closes a month
    and the records' check constraint (total = ROUND(count * rate, 2)) repeat, as SQL must. A count
    times a two-place rate is exact, so in practice none of them ever has to round.
    """
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def has_cents_only(value: Decimal) -> bool:
    """True when `value` has at most two decimal places (6.00, 6.5, 6), false for 6.005."""
    return value == value.quantize(CENT)
