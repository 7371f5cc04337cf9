"""The license as the host API shows it, as a plain dict: the API's serializer and the events'
payloads build it here, without DRF, so a webhook carries exactly what GET /licenses/{id} answers."""

from datetime import UTC

from django.conf import settings

from events.services import events_record
from licensing.selectors import is_online, online_since


def panel_url(subdomain):
    return f"https://{subdomain}.{settings.PANEL_BASE_DOMAIN}"


def utc_text(moment):
    """As DRF's DateTimeField renders it in this UTC-only app: ISO 8601, "Z" for +00:00."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def license_data(host_license, *, since=None, online=None):
    """`host_license` joined to its license; `online` when the caller already knows it."""
    license = host_license.license
    if online is None:
        online = is_online(host_license, since or online_since())
    return {
        "id": str(host_license.license_id),
        "server_id": host_license.server_identifier,
        "hostname": license.hostname,
        "customer_email": host_license.customer_email,
        "status": host_license.status,
        "livemode": host_license.livemode,
        "license_key": license.license_key,
        "companion_token": license.companion_token,
        "plugin_download_url": settings.PLUGIN_DOWNLOAD_URL,
        "subdomain": license.subdomain,
        "panel_url": panel_url(license.subdomain),
        "provisioned_at": utc_text(host_license.provisioned_at),
        "last_seen_at": utc_text(host_license.last_seen_at),
        "online": online,
    }


def license_events_record(host_licenses, type, *, online=None):
    """Record a license event per host license (all of one mode); call it inside the
    transaction of the change it reports."""
    if not host_licenses:
        return []
    since = online_since()
    return events_record(
        type=type,
        items=[(hl.host_id, license_data(hl, since=since, online=online)) for hl in host_licenses],
        livemode=host_licenses[0].livemode,
    )
