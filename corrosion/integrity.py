"""The invariants the data must hold, checked on demand: `manage.py check_integrity`.

The database's constraints and triggers hold most of them as rows are written; these checks read
everything back, so they also catch what a constraint cannot say (a record whose lines do not add
up), what a restore or a hand-made fix may have broken, and a constraint someone dropped. Each app
registers its own checks from its AppConfig.ready(), so this module imports no app.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

# How many violations of one check are printed; the count is always given in full.
SHOWN_PER_CHECK = 20


@dataclass(frozen=True)
class Check:
    """One invariant: `violations()` yields a line of text per row that breaks it."""

    name: str
    description: str
    violations: Callable[[], Iterable[str]]


_checks: dict[str, Check] = {}


def register(*checks: Check) -> None:
    for check in checks:
        _checks[check.name] = check


def registered_checks() -> list[Check]:
    return list(_checks.values())
