"""The staff's admin site: branded, and guarded against action posts no page would send.

Installed in place of django.contrib.admin (settings.INSTALLED_APPS names AdminConfig below), so
`admin.site` and `@admin.register` are this site, and every ModelAdmin registered on it (ours,
django.contrib.auth's, django-axes') gets the same guards without each one remembering them.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from corrosion.errors import DomainError

DELETE_ACTION = "delete_selected"


class GuardedActionsMixin:
    """Admin actions answer a message, never a 500, and say why a delete is refused.

    A service's refusal (DomainError) during an action is a message on the list too.

    Django filters the selection with `pk__in=<posted values>` and lets the ValidationError of a
    value that is not a primary key (`_selected_action=not-a-uuid`) become a 500. And a
    `delete_selected` post to an admin that offers no delete was silently ignored, so nothing told
    staff (or a test) why the rows stayed.
    """

    def changelist_view(self, request, extra_context=None):
        if (
            request.method == "POST"
            and DELETE_ACTION in request.POST.getlist("action")
            and not self.has_delete_permission(request)
        ):
            # An admin says what to do instead in `never_deleted_reason` (read with getattr: this
            # mixin comes first in the admin's MRO, so a class default here would hide it).
            reason = getattr(self, "never_deleted_reason", "they are kept for the record.")
            name = str(self.opts.verbose_name_plural).capitalize()
            self.message_user(request, f"{name} are never deleted here: {reason}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    def response_action(self, request, queryset):
        pk = self.opts.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.clean(value, None)  # its type, and its range (an integer the database can hold)
        except (ValidationError, ValueError, TypeError):
            self.message_user(request, "The selection is not valid: select the rows on the list again.", messages.ERROR)
            return None  # the changelist redirects back to itself, as for any failed action
        try:
            return super().response_action(request, queryset)
        except DomainError as exc:  # a service refused (e.g. lost a race): say so, on the list
            self.message_user(request, exc.message, messages.ERROR)
            return None


class CorrosionAdminSite(admin.AdminSite):
    site_header = "Corrosion administration"
    site_title = "Corrosion admin"
    index_title = "Partner licensing and billing"
    # The admin is for the staff; the site's own front page points to the admin, portal and docs.
    site_url = "/"
    # Lists need their width at 1366 px; the app list is one click away on the index.
    enable_nav_sidebar = False

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, GuardedActionsMixin):
            names = {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__}
            admin_class = type(admin_class.__name__, (GuardedActionsMixin, admin_class), names)
        super().register(model_or_iterable, admin_class, **options)


def _mend_axes_cleanup_action(site):
    """django-axes 8's "Clean up expired attempts" reads request attributes that only its login
    path sets, so the action was a 500; set them first, as that path does."""
    from axes.handlers.proxy import AxesProxyHandler
    from axes.models import AccessAttempt

    registered = site._registry.get(AccessAttempt)
    if registered is None:
        return
    axes_admin = type(registered)

    class AccessAttemptAdmin(axes_admin):
        @admin.action(description=axes_admin.cleanup_expired_attempts.short_description)
        def cleanup_expired_attempts(self, request, queryset):
            AxesProxyHandler.update_request(request)
            return super().cleanup_expired_attempts(request, queryset)

    site.unregister(AccessAttempt)
    site.register(AccessAttempt, AccessAttemptAdmin)


class AdminConfig(DjangoAdminConfig):
    default_site = "corrosion.admin_site.CorrosionAdminSite"

    def ready(self):
        super().ready()  # every app's admin module is registered by now
        _mend_axes_cleanup_action(self.module.site)
        _without_pages_on_missing_tables(self.module.site)


def _without_pages_on_missing_tables(site):
    """procrastinate's job admin reads its tables, which exist on PostgreSQL only (its migrations are
    skipped elsewhere, events/routers.py): on the demo's SQLite those pages could only fail."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    # The site's own registry, not the app registry: nothing here may depend on when models load.
    for model in [model for model in site._registry if model._meta.app_label == "procrastinate"]:
        site.unregister(model)
