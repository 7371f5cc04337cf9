"""The billing rule (SPEC: Billing rule), in one place: everything that counts money calls this.

For a month M and each host: its servers held in M, each billed or waived, one line per server,
and the rate in force at M's last moment. A server (a host's server_id) is held in M when one of
its licenses was non-terminated at some moment of M (provisioned before M ends, not terminated
before M starts). It is waived when its licenses held in M were all terminated within the grace
period and together were held for less than it; otherwise it is billed. Its line is its last
license held in M (mistakes included), as it stood at M's end.

The filter, the per-server choice and sums, and each line's status at M's end run in SQL, in one
query streamed in chunks, so the work is constant in memory and in queries whatever the number of
licenses. The month close compiles the same querysets into its INSERT ... SELECT.

Every function reads one mode's licenses: live by default, which is all that is ever billed, closed,
exported or counted. Test-mode licenses are read only for a test key's own bill, computed live
(`livemode=False`), and never reach a record.
"""

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import Case, DurationField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber

from billing.months import billing_grace, month_end, month_start
from corrosion.money import money_round
from hosts.models import Host, HostRate
from licensing.models import HostLicense, LicenseStatusChange

CHUNK_SIZE = 2000

LINE_FIELDS = (
    "server_id",
    "license_id",
    "license_key",
    "hostname",
    "customer_email",
    "status",
    "provisioned_at",
    "terminated_at",
)


# The column of a server_months row that holds each line field, where the names differ.
ROW_NAMES = {name: name for name in LINE_FIELDS} | {"status": "status_at_end", "terminated_at": "terminated_in_month"}


@dataclass(frozen=True)
class BillLine:
    server_id: str
    license_id: UUID
    license_key: str
    hostname: str
    customer_email: str
    status: str
    provisioned_at: datetime
    terminated_at: datetime | None

    @classmethod
    def from_row(cls, row: dict) -> "BillLine":
        return cls(**{name: row[ROW_NAMES[name]] for name in LINE_FIELDS})


@dataclass(frozen=True)
class HostBill:
    host_id: UUID
    month: date
    wholesale_rate_usd: Decimal
    lines: list[BillLine]
    waived_lines: list[BillLine]

    @property
    def active_license_count(self) -> int:
        return len(self.lines)

    @property
    def total_amount_usd(self) -> Decimal:
        return bill_total(count=self.active_license_count, rate=self.wholesale_rate_usd)


def bill_total(*, count: int, rate: Decimal) -> Decimal:
    """A month's total: count x rate, rounded once, on the product."""
    return money_round(Decimal(count) * rate)


def _host_ids(hosts):
    return None if hosts is None else [getattr(host, "pk", host) for host in hosts]


def licenses_held(*, month: date, hosts: Iterable | None = None, livemode: bool = True) -> QuerySet:
    """Every host license of the mode held non-terminated at some moment of `month`: provisioned
    before it ends, not terminated before it starts (several per server possible)."""
    start, end = month_start(month), month_end(month)
    queryset = HostLicense.objects.filter(livemode=livemode, provisioned_at__lt=end).filter(
        Q(terminated_at__isnull=True) | Q(terminated_at__gte=start)
    )
    host_ids = _host_ids(hosts)
    if host_ids is not None:
        queryset = queryset.filter(host_id__in=host_ids)
    return queryset


def status_at_end(month: date) -> Case:
    """For a HostLicense queryset: the license's status at the month's last moment.

    A license none of whose change times (`status_changed_at`, written with every change and with
    provisioning, and the suspended / resumed / terminated times) is at or after the month's end
    has not changed since: it still has that status. Only the others, a few at a close, look up
    their status history: the last change before the month's end. (Looking up every line's history
    made the close of 170,000 lines 2.7 times slower.) A license written by hand without a history
    reads its current status.
    """
    end = month_end(month)
    unchanged_since = Q(license__status_changed_at__lt=end)
    for moment in ("license__suspended_at", "license__resumed_at", "license__terminated_at"):
        unchanged_since &= Q(**{f"{moment}__isnull": True}) | Q(**{f"{moment}__lt": end})
    changes = LicenseStatusChange.objects.filter(license=OuterRef("license_id"), changed_at__lt=end)
    last = changes.order_by("-changed_at", "-sequence").values("status")[:1]
    return Case(When(unchanged_since, then=F("status")), default=Coalesce(Subquery(last), F("status")))


def server_months(*, month: date, hosts: Iterable | None = None, livemode: bool = True) -> QuerySet:
    """One row per (host, server) held in `month`, billed or waived, ordered by host then server.

    Rows are dicts with `host_id`, `waived` and LINE_FIELDS: the server's last license held in the
    month (mistakes included), as it stood at the month's end. A server is waived when its licenses
    held in the month were all terminated and together held for less than the grace: each counts
    from its provisioning to its termination, one still running counts a whole grace, so a server
    re-licensed in short cycles is billed from the month its licenses together reach the grace.
    """
    grace = billing_grace()
    server = [F("host_id"), F("server_identifier")]
    held_for = Coalesce(F("terminated_at") - F("provisioned_at"), Value(grace), output_field=DurationField())
    end = month_end(month)
    return (
        licenses_held(month=month, hosts=hosts, livemode=livemode)
        .annotate(
            server_rank=Window(RowNumber(), partition_by=server, order_by=[F("provisioned_at").desc(), F("id").desc()]),
            server_held_for=Window(Sum(held_for), partition_by=server),
        )
        .filter(server_rank=1)
        .annotate(waived=Case(When(server_held_for__lt=grace, then=Value(True)), default=Value(False)))
        .order_by("host_id", "server_identifier")
        .values(
            "host_id",
            "waived",
            "license_id",
            "customer_email",
            "provisioned_at",
            server_id=F("server_identifier"),
            license_key=F("license__license_key"),
            hostname=F("license__hostname"),
            # Named apart from the model's own fields (which the ORM reserves); ROW_NAMES maps them.
            status_at_end=status_at_end(month),
            # Set only when terminated within the month: a line describes the month, not the close.
            terminated_in_month=Case(When(terminated_at__lt=end, then=F("terminated_at")), default=None),
        )
    )


def billable_servers(*, month: date, hosts: Iterable | None = None, livemode: bool = True) -> QuerySet:
    """The billed servers of `month`: server_months without the waived ones."""
    return server_months(month=month, hosts=hosts, livemode=livemode).filter(waived=False)


def waived_servers(*, month: date, hosts: Iterable | None = None, livemode: bool = True) -> QuerySet:
    """The servers of `month` the grace rule waived, with the same fields as billed ones."""
    return server_months(month=month, hosts=hosts, livemode=livemode).filter(waived=True)


def rate_in_force(month: date) -> Coalesce:
    """For a Host queryset: the rate of the month's last moment, from the rate history.

    A host with no history row that early (created after the month) falls back to its current rate.
    """
    history = HostRate.objects.filter(host=OuterRef("pk"), effective_from__lt=month_end(month)).order_by(
        "-effective_from"
    )
    return Coalesce(Subquery(history.values("wholesale_rate_usd")[:1]), F("wholesale_rate_usd"))


def host_rate_rows(*, month: date, hosts: Iterable | None = None) -> QuerySet:
    """For each host, the rows (`id`, `rate`): the rate in force at the month's last moment."""
    queryset = Host.objects.order_by()
    host_ids = _host_ids(hosts)
    if host_ids is not None:
        queryset = queryset.filter(pk__in=host_ids)
    return queryset.annotate(rate=rate_in_force(month)).values("id", "rate")


def host_rates(*, month: date, hosts: Iterable | None = None) -> dict[UUID, Decimal]:
    rates = host_rate_rows(month=month, hosts=hosts).values_list("id", "rate")
    # SQLite returns an annotation's decimal unscaled (6 for 6.00); give every rate its 2 places.
    return {pk: money_round(rate) for pk, rate in rates}


def rates_by_month(*, host: Host, months: Iterable[date]) -> dict[date, Decimal]:
    """rate_in_force for one host and many months, from its rate history read once (a bill list
    shows a rate for each of its months in a constant number of queries)."""
    months = list(months)
    if not months:
        return {}
    history = list(host.rates.order_by("-effective_from").values_list("effective_from", "wholesale_rate_usd"))
    rates = {}
    for month in months:
        end = month_end(month)
        rate = next((rate for effective_from, rate in history if effective_from < end), host.wholesale_rate_usd)
        rates[month] = money_round(rate)
    return rates


def _bills(*, month, rates, rows):
    for host_id, host_rows in itertools.groupby(rows, key=lambda row: row["host_id"]):
        lines, waived = [], []
        for row in host_rows:
            (waived if row["waived"] else lines).append(BillLine.from_row(row))
        yield HostBill(
            host_id=host_id, month=month, wholesale_rate_usd=rates[host_id], lines=lines, waived_lines=waived
        )


def host_bills(
    *, month: date, hosts: Iterable | None = None, livemode: bool = True, chunk_size: int = CHUNK_SIZE
) -> Iterator[HostBill]:
    """Each host with a server held in `month` (billed or waived), with its lines and waived lines;
    hosts with neither are left out.

    Two queries in all: the rates, then the servers streamed `chunk_size` rows at a time.
    """
    rates = host_rates(month=month, hosts=hosts)
    rows = server_months(month=month, hosts=hosts, livemode=livemode).iterator(chunk_size=chunk_size)
    yield from _bills(month=month, rates=rates, rows=rows)


def billable_server_count(*, month: date, hosts: Iterable | None = None, livemode: bool = True) -> int:
    return billable_servers(month=month, hosts=hosts, livemode=livemode).count()
