"""`license.offline` once per outage and `license.online` when it ends, whenever the scan runs.

The detector's memory is events.OutageNotice (the last_seen_at an announced outage began at): a
scan that runs late, twice, or after a restart finds the same answer, so no outage is lost or
announced twice. A license never heard from was never online, so it never goes offline.
"""

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from events.models import OutageNotice
from licensing.models import HostLicense, LicenseStatus
from licensing.payloads import license_events_record
from licensing.selectors import online_since

BATCH = 500


def outages_announce():
    """Announce every new outage and every return; returns (offline, online) counts."""
    since = online_since()
    went_quiet = (
        HostLicense.objects.filter(last_seen_at__lt=since)
        .exclude(status=LicenseStatus.TERMINATED)
        .exclude(
            Exists(OutageNotice.objects.filter(host_license_id=OuterRef("pk"), last_seen_at=OuterRef("last_seen_at")))
        )
    )
    came_back = HostLicense.objects.filter(
        Exists(OutageNotice.objects.filter(host_license_id=OuterRef("pk"), last_seen_at__lt=OuterRef("last_seen_at")))
    )
    # Returns first: a license that came back and went quiet again between two scans gets its
    # online, then its new offline, in that order.
    online = sum(_announce(pk, "license.online") for pk in list(came_back.values_list("pk", flat=True)))
    offline = sum(_announce(pk, "license.offline") for pk in list(went_quiet.values_list("pk", flat=True)))
    return offline, online


def _announce(host_license_id, type):
    """One license, one transaction: the notice and the event commit together or not at all."""
    try:
        with transaction.atomic():
            host_license = (
                HostLicense.objects.select_related("license").select_for_update(of=("self",)).get(pk=host_license_id)
            )
            notice = OutageNotice.objects.select_for_update().filter(host_license_id=host_license_id).first()
            since = online_since()
            seen = host_license.last_seen_at
            if type == "license.offline":
                if seen is None or seen >= since or host_license.status == LicenseStatus.TERMINATED:
                    return 0
                if notice is not None and notice.last_seen_at == seen:
                    return 0  # announced already
                OutageNotice.objects.update_or_create(
                    host_license_id=host_license_id, defaults={"last_seen_at": seen, "announced_at": timezone.now()}
                )
                license_events_record([host_license], type, online=False)
            else:
                if notice is None or seen is None or seen <= notice.last_seen_at:
                    return 0
                notice.delete()
                license_events_record([host_license], type)
            return 1
    except IntegrityError:
        return 0  # a concurrent scan announced it first
