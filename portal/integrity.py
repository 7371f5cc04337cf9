"""Invariants of the partner portal's people (see corrosion/integrity.py). The services refuse these;
the checks catch what a hand-made change in the admin or the shell may have done since."""

from django.db.models import Q

from corrosion.integrity import Check
from portal.models import Membership


def _staff_members():
    rows = Membership.objects.filter(Q(user__is_staff=True) | Q(user__is_superuser=True)).values_list("id", "user_id")
    for membership_id, user_id in rows.iterator():
        yield f"membership {membership_id}: user {user_id} is staff, and staff are not partner users"


def _hosts_without_owner():
    hosts = Membership.objects.values_list("host_id", flat=True).distinct()
    owned = set(Membership.objects.filter(role="owner").values_list("host_id", flat=True))
    for host_id in hosts:
        if host_id not in owned:
            yield f"host {host_id} has portal members but no owner"


CHECKS = [
    Check("portal.staff_members", "no staff user is a partner user", _staff_members),
    Check("portal.owner", "a host with portal members has an owner", _hosts_without_owner),
]
