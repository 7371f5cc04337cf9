from django.contrib import admin

from audit.models import AuditEvent
from corrosion.admin import SecretLookupsRefused


@admin.register(AuditEvent)
class AuditEventAdmin(SecretLookupsRefused, admin.ModelAdmin):
    """The trail is append-only: staff read it, nobody edits it."""

    list_display = ["occurred_at", "actor_type", "actor", "action", "target_type", "target_id"]
    list_filter = ["actor_type", "action", "target_type"]
    search_fields = ["target_id", "actor", "action"]
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
