"""Staff look at licenses and change their status here, through the same services as the API."""

import uuid

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from audit.admin import audit_data_html
from audit.selectors import audit_events_for
from audit.services import Actor
from corrosion.admin import ModeFilter, SecretLookupsRefused, mode_column, time_column
from corrosion.errors import DomainError
from licensing.models import HostLicense
from licensing.selectors import is_online, online_q, online_since
from licensing.services import license_resume, license_suspend, license_terminate


class OnlineFilter(admin.SimpleListFilter):
    title = "online"
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return [("yes", "Online"), ("no", "Offline")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(online_q(online_since()))
        if self.value() == "no":
            return queryset.exclude(online_q(online_since()))
        return queryset


@admin.register(HostLicense)
class HostLicenseAdmin(SecretLookupsRefused, admin.ModelAdmin):
    list_display = [
        "server_identifier",
        "mode",
        "host",
        "customer_email",
        "status",
        "online",
        "last_seen",
        "provisioned",
    ]
    list_filter = [ModeFilter, "status", OnlineFilter, ("host", admin.RelatedOnlyFieldListFilter)]
    # A license is found by its whole key (as a customer reads it out), never by a piece of one:
    # a substring search would let the list answer "which keys contain ...?" a character at a time.
    search_fields = ["=license__license_key", "server_identifier", "customer_email", "license__hostname"]
    list_select_related = ["host", "license"]
    ordering = ["-provisioned_at", "-id"]
    show_full_result_count = False  # a COUNT(*) over every license on each page is not worth it
    actions = ["suspend", "resume", "terminate"]
    never_deleted_reason = "terminate a license instead; its history and bills stay."
    fields = [
        "api_id",
        "mode",
        "host",
        "server_identifier",
        "customer_email",
        "status",
        "license_key",
        "hostname",
        "subdomain",
        "provisioned_at",
        "suspended_at",
        "resumed_at",
        "terminated_at",
        "last_seen_at",
        "plugin_version",
        "player_count",
        "status_history",
        "audit_trail",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        self._online_since = online_since()
        return super().get_queryset(request)

    def get_search_results(self, request, queryset, search_term):
        """Also find a license by its id, the UUID the API shows, with an exact (indexed) match."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            license_id = uuid.UUID(search_term.strip())
        except ValueError:
            return found, may_have_duplicates
        return found | queryset.filter(license_id=license_id), may_have_duplicates

    def has_add_permission(self, request):
        return False  # licenses are provisioned by hosts through the API

    def has_change_permission(self, request, obj=None):
        return False  # no form edits: status changes are the actions below

    def has_delete_permission(self, request, obj=None):
        return False

    def has_status_permission(self, request):
        return request.user.has_perm("licensing.change_hostlicense")

    @admin.display(boolean=True)
    def online(self, obj):
        return is_online(obj, self._online_since)

    last_seen = time_column("last_seen_at", "last seen (UTC)")

    # Test licenses are the hosts' sandboxes: staff may look, and every row and page says TEST.
    mode = mode_column()

    provisioned = time_column("provisioned_at", "provisioned (UTC)")

    @admin.display(description="id (as the API shows it)")
    def api_id(self, obj):
        return obj.license_id

    @admin.display(description="license key")
    def license_key(self, obj):
        return obj.license.license_key

    @admin.display()
    def hostname(self, obj):
        return obj.license.hostname

    @admin.display()
    def subdomain(self, obj):
        return obj.license.subdomain

    @admin.display(description="suspended at")
    def suspended_at(self, obj):
        return obj.license.suspended_at

    @admin.display(description="resumed at")
    def resumed_at(self, obj):
        return obj.license.resumed_at

    @admin.display(description="Status history")
    def status_history(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}: {}</td></tr>",
            (
                (f"{change.changed_at:%Y-%m-%d %H:%M:%S} UTC", change.status, change.actor_type, change.actor)
                for change in obj.license.status_changes.order_by("sequence")
            ),
        )
        return format_html(
            '<table class="status-history"><thead><tr><th>When</th><th>Status</th><th>Who</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Audit trail")
    def audit_trail(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}: {}</td><td>{}</td></tr>",
            (
                (f"{e.occurred_at:%Y-%m-%d %H:%M:%S} UTC", e.action, e.actor_type, e.actor, audit_data_html(e.data))
                for e in audit_events_for(obj.license)
            ),
        )
        return format_html(
            '<table class="audit-trail"><thead><tr><th>When</th><th>What</th><th>Who</th><th>Details</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def _change_status(self, request, queryset, change, verb):
        changed, refused = 0, []
        for host_license in queryset:
            before = host_license.status
            try:
                after = change(host_license=host_license, actor=Actor.staff(request.user)).status
            except DomainError as exc:
                refused.append(f"{host_license.server_identifier}: {exc.message}")
                continue
            changed += before != after
        self.message_user(request, f"{verb} {changed} license(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Refused: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Suspend selected licenses (still billed)", permissions=["status"])
    def suspend(self, request, queryset):
        self._change_status(request, queryset, license_suspend, "Suspended")

    @admin.action(description="Resume selected licenses", permissions=["status"])
    def resume(self, request, queryset):
        self._change_status(request, queryset, license_resume, "Resumed")

    @admin.action(description="Terminate selected licenses (final; frees the server id)", permissions=["status"])
    def terminate(self, request, queryset):
        self._change_status(request, queryset, license_terminate, "Terminated")
