from django.contrib import admin, messages

from audit.services import Actor
from corrosion.admin import DomainErrorAdminMixin, SecretLookupsRefused
from corrosion.errors import DomainError
from hosts.models import Host
from portal.models import Invitation, Membership, Role
from portal.services import invitation_create


@admin.action(description="Invite partner owner (the host's contact e-mail)")
def invite_partner_owner(modeladmin, request, queryset):
    """The first owner of each host is its contact address; owners invite the rest in the portal."""
    for host in queryset:
        try:
            sent = invitation_create(
                host=host, email=host.contact_email, role=Role.OWNER, actor=Actor.staff(request.user)
            )
        except DomainError as exc:
            modeladmin.message_user(request, f"{host}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(
                request, f"Invitation e-mailed to {sent.invitation.email} for {host}.", messages.SUCCESS
            )


# Hosts cannot import the portal (it sits above them), so the portal adds its action to theirs.
_host_admin = admin.site._registry.get(Host)
if _host_admin is not None and invite_partner_owner not in _host_admin.actions:
    _host_admin.actions = [*_host_admin.actions, invite_partner_owner]


@admin.register(Membership)
class MembershipAdmin(DomainErrorAdminMixin, admin.ModelAdmin):
    list_display = ["user", "host", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "host__company_name"]
    list_select_related = ["user", "host"]

    def has_add_permission(self, request):
        return False  # people join through an invitation

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(SecretLookupsRefused, admin.ModelAdmin):
    list_display = ["email", "host", "role", "created_at", "expires_at", "used_at", "invited_by"]
    search_fields = ["email", "host__company_name"]
    list_select_related = ["host"]
    exclude = ["token_digest"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
