"""What every admin page shares: no changelist lookup may reach a secret, and a service's refusal
(a DomainError) is shown on the form's fields or as a message, never a 500.

The admin filters its lists by any lookup in the query string that `lookup_allowed` accepts, and it
accepts every lookup on the model's own fields. On a secret that is an oracle: a view-only user
pages `?digest__startswith=` one character at a time and reads a key's digest back in a few
hundred requests. Lookups that touch a secret field, directly or through relations, are refused.
"""

from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from corrosion.errors import DomainError

# Every field holding a secret or a digest of one, as "app_label.modelname.field". Listed by name
# so this module imports no app; tests check that each field named like a secret is here.
SECRET_FIELDS = frozenset(
    {
        "auth.user.password",
        "hosts.hostapikey.digest",
        "licensing.license.license_key",
        "licensing.license.companion_token",
        "billing.billingline.license_key",
        "billing.billingwaivedline.license_key",
        "events.webhookendpoint.secret",
        "events.webhookendpoint.previous_secret",
        "portal.invitation.token_digest",
    }
)


def lookup_touches_secret(model, lookup):
    """Whether a lookup such as `license__license_key__startswith` reads a secret field."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or a lookup ("startswith"): the path of fields has ended
        if f"{model._meta.label_lower}.{field.name}" in SECRET_FIELDS:
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class SecretLookupsRefused:
    """A ModelAdmin mixin: a lookup on a secret gets the admin's own refusal (400), never a filtered list."""

    def lookup_allowed(self, lookup, value, request=None):
        if lookup_touches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)


class DomainErrorAdminMixin:
    """A ModelAdmin whose services may refuse: the refusal is a message, never a 500.

    Field errors are caught by the forms' own validation first (they call the same validators as
    the services); what only the service can see (a race) reaches here, after the admin's
    transaction has rolled back, and the form page is shown again with the message.
    """

    def message_domain_error(self, request, exc: DomainError):
        self.message_user(request, exc.message, messages.ERROR)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_domain_error(request, exc)
            return HttpResponseRedirect(request.get_full_path())


def short_time(moment, *, seconds=False):
    """A moment as lists show it: "2026-10-31 23:59" UTC, narrow enough for a 1366 px screen."""
    if moment is None:
        return "—"
    return f"{moment:%Y-%m-%d %H:%M:%S}" if seconds else f"{moment:%Y-%m-%d %H:%M}"


def time_column(field, description, *, seconds=False):
    """A list column showing the `field` moment with short_time, sortable by it."""

    @admin.display(description=description, ordering=field)
    def column(model_admin, obj):
        return short_time(getattr(obj, field), seconds=seconds)

    return column


def mode_badge(livemode):
    """Live or test, as every list and page shows it: test data is visibly marked (SPEC: Test mode)."""
    if livemode:
        return format_html('<span class="mode-live">{}</span>', "live")
    return format_html('<span class="mode-test" title="{}">{}</span>', "Test mode: never billed", "TEST")


def mode_column(field="livemode"):
    """A list column showing the row's mode with mode_badge, sortable by it."""

    @admin.display(description="mode", ordering=field)
    def column(model_admin, obj):
        return mode_badge(getattr(obj, field))

    return column


class ModeFilter(admin.SimpleListFilter):
    """Filter a list by mode: live (billed) or test (the hosts' sandboxes)."""

    title = "mode"
    parameter_name = "mode"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("test", "Test")]

    def queryset(self, request, queryset):
        if self.value() in ("live", "test"):
            return queryset.filter(livemode=self.value() == "live")
        return queryset
