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

DELETE_ACTION = "delete_selected"


class GuardedActionsMixin:
    """Admin actions answer a message, never a 500, and say why a delete is refused.

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
                pk.get_prep_value(pk.to_python(value))
        except (ValidationError, ValueError, TypeError):
            self.message_user(request, "The selection is not valid: select the rows on the list again.", messages.ERROR)
            return None  # the changelist redirects back to itself, as for any failed action
        return super().response_action(request, queryset)


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


class AdminConfig(DjangoAdminConfig):
    default_site = "corrosion.admin_site.CorrosionAdminSite"
