"""Invariants of licenses, host licenses and their status history (see corrosion/integrity.py)."""

from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery

from corrosion.integrity import Check
from licensing.models import HostLicense, License, LicenseStatus, LicenseStatusChange


def _licenses_without_host_license():
    for license_id in License.objects.filter(host_license__isnull=True).values_list("id", flat=True).iterator():
        yield f"license {license_id} has no host license"


def _copies_that_disagree():
    # host_licenses copies what the partial unique index needs; the copy must say what the license says.
    differs = (
        ~Q(status=F("license__status"))
        | ~Q(livemode=F("license__livemode"))
        | ~Q(provisioned_at=F("license__provisioned_at"))
        | Q(terminated_at__isnull=True, license__terminated_at__isnull=False)
        | Q(terminated_at__isnull=False, license__terminated_at__isnull=True)
        # Compared only where both are set: Django's negation of a nullable comparison also
        # matches rows where it is NULL, which the two lines above already cover.
        | (
            Q(terminated_at__isnull=False, license__terminated_at__isnull=False)
            & ~Q(terminated_at=F("license__terminated_at"))
        )
    )
    rows = HostLicense.objects.filter(differs).values_list("license_id", "status", "license__status")
    for license_id, copy, original in rows.iterator():
        yield f"license {license_id}: host license says {copy}, license says {original}"


def _histories_that_disagree():
    last = LicenseStatusChange.objects.filter(license=OuterRef("pk")).order_by("-sequence")
    licenses = (
        License.objects.annotate(
            changes=Count("status_changes"),
            last_sequence=Max("status_changes__sequence"),
            first_sequence=Min("status_changes__sequence"),
        )
        .annotate(last_status=Subquery(last.values("status")[:1]))
        .filter(Q(changes=0) | ~Q(last_status=F("status")) | ~Q(last_sequence=F("changes")) | ~Q(first_sequence=1))
        .values_list("id", "status", "last_status", "changes", "last_sequence")
    )
    for license_id, status, last_status, changes, last_sequence in licenses.iterator():
        if not changes:
            yield f"license {license_id} ({status}) has no status history"
        elif last_status != status:
            yield f"license {license_id} is {status} but its history ends {last_status}"
        else:
            yield f"license {license_id}: {changes} history rows numbered up to {last_sequence}, not 1..{changes}"


def _histories_that_start_wrong():
    firsts = LicenseStatusChange.objects.filter(sequence=1).exclude(status=LicenseStatus.ACTIVE)
    for license_id, status in firsts.values_list("license_id", "status").iterator():
        yield f"license {license_id}'s history starts {status}, not active (provisioning)"


def _servers_live_twice():
    duplicates = (
        HostLicense.objects.exclude(status=LicenseStatus.TERMINATED)
        .values("host_id", "livemode", "server_identifier")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    for row in duplicates.iterator():
        mode = "live" if row["livemode"] else "test"
        yield f"host {row['host_id']} has {row['n']} non-terminated {mode} licenses for {row['server_identifier']!r}"


CHECKS = [
    Check("licenses.host_license", "every license has its host license", _licenses_without_host_license),
    Check(
        "licenses.copies", "a host license's copied status, mode and times equal its license's", _copies_that_disagree
    ),
    Check(
        "licenses.status_history",
        "every license has a gapless status history (1..n) that ends on its status",
        _histories_that_disagree,
    ),
    Check("licenses.history_start", "every status history starts active, at provisioning", _histories_that_start_wrong),
    Check(
        "licenses.one_live_per_server",
        "a host has at most one non-terminated license per server id in each mode",
        _servers_live_twice,
    ),
]
