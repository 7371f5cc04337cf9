"""Argument types shared by the billing commands."""

import argparse

from billing.months import month_parse


def month_argument(value):
    try:
        return month_parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(value):
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number.") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1.")
    return number
