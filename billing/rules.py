"""The billing rule (SPEC: Billing rule), in one place: everything that counts money calls this.

For a month M and each host: the billable servers, one line per server, and the rate in force at
M's last moment. A license makes its server billable when it was held non-terminated at some
moment of M (provisioned before M ends, not terminated before M starts) and was not terminated
within the grace period of being provisioned. A server's line is its last such license.

The qualifying filter and the one-license-per-server choice run in SQL, in one query streamed in
chunks, so the work is constant in memory and in queries whatever the number of licenses.
"""

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from billing.months import billing_grace, month_end, month_start
from corrosion.money import money_round
from hosts.models import Host, HostRate
from licensing.models import HostLicense

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


@dataclass(frozen=True)
class HostBill:
    host_id: UUID
    month: date
    wholesale_rate_usd: Decimal
    lines: list[BillLine]

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


def qualifying_licenses(*, month: date, hosts: Iterable | None = None) -> QuerySet:
    """Every host license that makes its server billable in `month` (several per server possible)."""
    start, end = month_start(month), month_end(month)
    queryset = HostLicense.objects.filter(provisioned_at__lt=end).filter(
        # Not terminated before the month starts, and not a mistake terminated within the grace.
        Q(terminated_at__isnull=True)
        | (Q(terminated_at__gte=start) & Q(terminated_at__gte=F("provisioned_at") + billing_grace()))
    )
    host_ids = _host_ids(hosts)
    if host_ids is not None:
        queryset = queryset.filter(host_id__in=host_ids)
    return queryset


def billable_servers(*, month: date, hosts: Iterable | None = None) -> QuerySet:
    """One row per billable (host, server): its last qualifying license, ordered by host then server.

    Rows are dicts with `host_id` and LINE_FIELDS.
    """
    queryset = qualifying_licenses(month=month, hosts=hosts)
    if connection.vendor == "postgresql":
        queryset = queryset.order_by("host_id", "server_identifier", "-provisioned_at", "-id").distinct(
            "host_id", "server_identifier"
        )
    else:
        queryset = (
            queryset.annotate(
                server_rank=Window(
                    RowNumber(),
                    partition_by=[F("host_id"), F("server_identifier")],
                    order_by=[F("provisioned_at").desc(), F("id").desc()],
                )
            )
            .filter(server_rank=1)
            .order_by("host_id", "server_identifier")
        )
    return queryset.values(
        "host_id",
        "license_id",
        "customer_email",
        "status",
        "provisioned_at",
        "terminated_at",
        server_id=F("server_identifier"),
        license_key=F("license__license_key"),
        hostname=F("license__hostname"),
    )


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


def _bills(*, month, rates, rows):
    for host_id, host_rows in itertools.groupby(rows, key=lambda row: row["host_id"]):
        lines = [BillLine(**{field: row[field] for field in LINE_FIELDS}) for row in host_rows]
        yield HostBill(host_id=host_id, month=month, wholesale_rate_usd=rates[host_id], lines=lines)


def host_bills(*, month: date, hosts: Iterable | None = None, chunk_size: int = CHUNK_SIZE) -> Iterator[HostBill]:
    """Each host with something billable in `month`, with its lines; hosts with nothing are left out.

    Two queries in all: the rates, then the billable servers streamed `chunk_size` rows at a time.
    """
    rates = host_rates(month=month, hosts=hosts)
    rows = billable_servers(month=month, hosts=hosts).iterator(chunk_size=chunk_size)
    yield from _bills(month=month, rates=rates, rows=rows)


def billable_server_count(*, month: date, hosts: Iterable | None = None) -> int:
    return billable_servers(month=month, hosts=hosts).count()
