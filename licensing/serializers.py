"""The license as the host API shows it; shared by every licensing view."""

from datetime import UTC

from django.conf import settings
from rest_framework import serializers

from licensing.models import LicenseStatus
from licensing.selectors import is_online, online_since


def panel_url(subdomain):
    return f"https://{subdomain}.{settings.PANEL_BASE_DOMAIN}"


class LicenseOutputSerializer(serializers.Serializer):
    """Reads a HostLicense joined to its License (`select_related("license")`)."""

    class Meta:
        ref_name = "License"

    id = serializers.UUIDField(source="license_id")
    server_id = serializers.CharField(source="server_identifier")
    hostname = serializers.CharField(source="license.hostname")
    customer_email = serializers.EmailField()
    status = serializers.ChoiceField(choices=LicenseStatus.choices)
    livemode = serializers.BooleanField(
        help_text="true for a live license (billed), false for a test-mode license (made with a test key; never billed)."
    )
    license_key = serializers.CharField(source="license.license_key")
    companion_token = serializers.CharField(source="license.companion_token")
    plugin_download_url = serializers.SerializerMethodField()
    subdomain = serializers.CharField(source="license.subdomain")
    panel_url = serializers.SerializerMethodField()
    provisioned_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    online = serializers.SerializerMethodField()

    def get_plugin_download_url(self, obj) -> str:
        return settings.PLUGIN_DOWNLOAD_URL

    def get_panel_url(self, obj) -> str:
        return panel_url(obj.license.subdomain)

    def get_online(self, obj) -> bool:
        return is_online(obj, self.context.get("online_since") or online_since())

    def to_representation(self, instance):
        # The same dict DRF would build field by field, built directly: DRF's generic walk over
        # 13 fields was most of a 100-license page's time (BENCHMARKS.md). The declared fields
        # above still document the shape (OpenAPI); a test holds the two ways equal.
        license = instance.license
        return {
            "id": str(instance.license_id),
            "server_id": instance.server_identifier,
            "hostname": license.hostname,
            "customer_email": instance.customer_email,
            "status": instance.status,
            "livemode": instance.livemode,
            "license_key": license.license_key,
            "companion_token": license.companion_token,
            "plugin_download_url": settings.PLUGIN_DOWNLOAD_URL,
            "subdomain": license.subdomain,
            "panel_url": panel_url(license.subdomain),
            "provisioned_at": _utc(instance.provisioned_at),
            "last_seen_at": _utc(instance.last_seen_at),
            "online": self.get_online(instance),
        }


def _utc(moment):
    """As DRF's DateTimeField renders it in this UTC-only app: ISO 8601, "Z" for +00:00."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
