import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from audit.models import AuditEvent
from corrosion.admin import SecretLookupsRefused, time_column


def _shown(value):
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def audit_data_items(data):
    """An event's data as (label, text) pairs a person reads: a change [old, new] is "old → new"."""
    if not isinstance(data, dict):
        return [("data", _shown(data))]
    data = dict(data)
    items = []
    # A status change is recorded as {"from": ..., "to": ...} beside what it happened to.
    if "from" in data and "to" in data:
        items.append(("change", f"{_shown(data.pop('from'))} → {_shown(data.pop('to'))}"))
    for name, value in data.items():
        label = name.replace("_", " ")
        if isinstance(value, list) and len(value) == 2:
            items.append((label, f"{_shown(value[0])} → {_shown(value[1])}"))
        else:
            items.append((label, _shown(value)))
    return items


def audit_data_html(data):
    """The data as a small definition list, every value escaped (hosts choose hostnames and names)."""
    items = audit_data_items(data)
    if not items:
        return "—"
    return format_html('<dl class="audit-data">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", items))


@admin.register(AuditEvent)
class AuditEventAdmin(SecretLookupsRefused, admin.ModelAdmin):
    """The trail is append-only: staff read it, nobody edits it."""

    never_deleted_reason = "the audit trail is append-only."
    list_display = ["when", "who", "action", "target", "details"]
    list_filter = ["actor_type", "action", "target_type"]
    search_fields = ["target_id", "actor", "action"]
    date_hierarchy = "occurred_at"
    fields = ["occurred_at", "actor_type", "actor", "action", "target_type", "target_id", "details"]
    readonly_fields = fields

    when = time_column("occurred_at", "when (UTC)", seconds=True)

    @admin.display(description="target")
    def target(self, obj):
        # The full id is on the event's page (and found by the search); eight characters tell rows apart.
        return f"{obj.target_type} {obj.target_id[:8]}"

    @admin.display(description="who", ordering="actor")
    def who(self, obj):
        return f"{obj.actor_type}: {obj.actor}"

    @admin.display(description="details")
    def details(self, obj):
        return audit_data_html(obj.data)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
