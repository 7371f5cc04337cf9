"""The license as the host API shows it; shared by every licensing view."""

from django.conf import settings
from rest_framework import serializers

from licensing.models import LicenseStatus
from licensing.payloads import license_data, panel_url
from licensing.selectors import is_online, online_since

__all__ = ["LicenseOutputSerializer", "panel_url"]


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
        # The same dict DRF would build field by field, built directly (licensing/payloads.py, which
        # webhooks share): DRF's generic walk over 13 fields was most of a 100-license page's time
        # (BENCHMARKS.md). The declared fields above still document the shape (OpenAPI); a test
        # holds the two ways equal.
        return license_data(instance, online=self.get_online(instance))
