from django.contrib import admin
from django.utils.html import format_html, format_html_join

from audit.selectors import audit_events_for
from licensing.models import License


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ["license_key", "hostname", "customer", "status", "provisioned_at"]
    list_filter = ["status"]
    search_fields = ["license_key", "hostname", "customer__email", "subdomain"]
    list_select_related = ["customer"]
    readonly_fields = [
        "license_key",
        "customer",
        "hostname",
        "subdomain",
        "status",
        "provisioned_at",
        "suspended_at",
        "resumed_at",
        "terminated_at",
        "status_changed_at",
        "audit_trail",
    ]
    exclude = ["companion_token"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # status changes go through the services, never a form edit

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Audit trail")
    def audit_trail(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}: {}</td><td>{}</td></tr>",
            (
                (f"{e.occurred_at:%Y-%m-%d %H:%M:%S} UTC", e.action, e.actor_type, e.actor, e.data)
                for e in audit_events_for(obj)
            ),
        )
        return format_html(
            '<table class="audit-trail"><thead><tr><th>When</th><th>What</th><th>Who</th><th>Details</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            rows,
        )
