from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from licensing.models import HostLicense, LicenseStatus

# The columns LicenseOutputSerializer reads (the services re-read a license under a lock anyway).
SHOWN_FIELDS = (
    "license_id",
    "host_id",
    "server_identifier",
    "customer_email",
    "status",
    "livemode",
    "provisioned_at",
    "last_seen_at",
    "license__hostname",
    "license__license_key",
    "license__companion_token",
    "license__subdomain",
)


def online_since():
    """Seen at or after this moment counts as online."""
    return timezone.now() - timedelta(minutes=settings.ONLINE_WINDOW_MINUTES)


def online_q(since):
    """Online: seen since `since`, and not terminated (its plugin may beat on; the license is gone)."""
    return Q(last_seen_at__gte=since) & ~Q(status=LicenseStatus.TERMINATED)


def is_online(host_license, since):
    """online_q for one row already read."""
    return (
        host_license.last_seen_at is not None
        and host_license.last_seen_at >= since
        and host_license.status != LicenseStatus.TERMINATED
    )


def licenses_for_host(*, host, livemode, filters=None):
    """The host's licenses of one mode (live, or its test sandbox), every row joined to its license
    in the same query. The mode is the caller's key's: the other mode's licenses do not exist for it.

    Each filter is index-backed for the common case: `license_key` by the licenses' unique key,
    `hostname` by licenses_hostname_upper_idx, `customer_email` by host_licenses_email_idx,
    `server_id` and `status` by the host's own indexes; `online` reads the host's list.
    """
    filters = filters or {}
    # Only what the API shows: a page of 100 parsed some 500 timestamps it never rendered.
    queryset = HostLicense.objects.filter(host=host, livemode=livemode).select_related("license").only(*SHOWN_FIELDS)
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    if "server_id" in filters:
        queryset = queryset.filter(server_identifier=filters["server_id"])
    if "customer_email" in filters:
        queryset = queryset.filter(customer_email__iexact=filters["customer_email"])
    if "hostname" in filters:
        queryset = queryset.filter(license__hostname__iexact=filters["hostname"])
    if "license_key" in filters:
        queryset = queryset.filter(license__license_key=filters["license_key"])
    if "online" in filters:
        online = online_q(online_since())
        queryset = queryset.filter(online) if filters["online"] else queryset.exclude(online)
    return queryset


def license_for_host(*, host, livemode, license_id):
    """One of the host's licenses of this mode, or None: another host's license, or one of the other
    mode, is as unknown as a made-up id."""
    return licenses_for_host(host=host, livemode=livemode).filter(license_id=license_id).first()
