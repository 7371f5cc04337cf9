from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from licensing.models import HostLicense

# The columns LicenseOutputSerializer reads (the services re-read a license under a lock anyway).
SHOWN_FIELDS = (
    "license_id",
    "host_id",
    "server_identifier",
    "customer_email",
    "status",
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


def licenses_for_host(*, host, filters=None):
    """The host's licenses, every row joined to its license in the same query."""
    filters = filters or {}
    # Only what the API shows: a page of 100 parsed some 500 timestamps it never rendered.
    queryset = HostLicense.objects.filter(host=host).select_related("license").only(*SHOWN_FIELDS)
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    if "server_id" in filters:
        queryset = queryset.filter(server_identifier=filters["server_id"])
    if "customer_email" in filters:
        queryset = queryset.filter(customer_email__iexact=filters["customer_email"])
    if "online" in filters:
        since = online_since()
        if filters["online"]:
            queryset = queryset.filter(last_seen_at__gte=since)
        else:
            queryset = queryset.exclude(last_seen_at__gte=since)
    return queryset


def license_for_host(*, host, license_id):
    """One of the host's licenses, or None: another host's license is as unknown as a made-up id."""
    return licenses_for_host(host=host).filter(license_id=license_id).first()
