"""The license as the host API shows it; shared by every licensing view."""

from django.conf import settings
from rest_framework import serializers

from licensing.models import LicenseStatus
from licensing.selectors import online_since


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
        if obj.last_seen_at is None:
            return False
        since = self.context.get("online_since") or online_since()
        return obj.last_seen_at >= since
