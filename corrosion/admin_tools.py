"""How the admin shows a service's DomainError: on the form's fields, or as a message."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from corrosion.errors import DomainError


def form_add_domain_error(form, exc: DomainError):
    """Put the error on the fields it names (or on the form), so the page says what to correct."""
    for name, field_messages in exc.field_messages().items():
        form.add_error(name if name in form.fields else None, field_messages)


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
