"""Invariants of hosts and their rate history (see corrosion/integrity.py)."""

from django.db.models import F, OuterRef, Q, Subquery

from corrosion.integrity import Check
from hosts.models import Host, HostRate


def _rates_that_disagree_with_their_history():
    latest = HostRate.objects.filter(host=OuterRef("pk")).order_by("-effective_from")
    hosts = (
        Host.objects.annotate(latest_rate=Subquery(latest.values("wholesale_rate_usd")[:1]))
        .filter(Q(latest_rate__isnull=True) | ~Q(latest_rate=F("wholesale_rate_usd")))
        .values_list("id", "wholesale_rate_usd", "latest_rate")
    )
    for host_id, rate, latest_rate in hosts.iterator():
        if latest_rate is None:
            yield f"host {host_id} has no rate history"
        else:
            yield f"host {host_id}: rate {rate}, but its rate history ends at {latest_rate}"


CHECKS = [
    Check(
        "hosts.rate_history", "a host's rate is the last of its rate history", _rates_that_disagree_with_their_history
    ),
]
