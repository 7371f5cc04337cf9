"""Staff manage hosts, their rates and keys here; every change goes through hosts.services."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.services import Actor
from corrosion.admin import DomainErrorAdminMixin, ModeFilter, SecretLookupsRefused, mode_column, time_column
from corrosion.errors import DomainError
from hosts.models import Host, HostAPIKey, HostRate
from hosts.services import (
    KEY_NAME_MAX_LENGTH,
    api_key_issue,
    api_key_revoke,
    host_create,
    host_update,
    validate_billing_address,
    validate_company_name,
    validate_contact_email,
    validate_rate,
    validate_tax_id,
)

# Issued keys wait here, under their key id, between the POST that issues them and the page that
# shows them: the page pops the key, so a reload (or the back button) can never show it again, and
# a reload of that page posts nothing. The key sits in the session store (the database, never a
# cookie: SESSION_ENGINE is Django's default) only for that redirect.
ISSUED_KEYS_SESSION_KEY = "hosts.issued_keys"


def key_show_once_redirect(request, *, host, issued):
    """After issuing a key: park it in the session and redirect to the page that shows it once."""
    waiting = dict(request.session.get(ISSUED_KEYS_SESSION_KEY, {}))
    waiting[issued.api_key.key_id] = issued.raw_key
    request.session[ISSUED_KEYS_SESSION_KEY] = waiting
    return HttpResponseRedirect(reverse("admin:hosts_host_key", args=[host.pk, issued.api_key.key_id]))


def key_pop(request, key_id):
    """The raw key waiting for `key_id`, removed from the session; None once it has been shown."""
    waiting = dict(request.session.get(ISSUED_KEYS_SESSION_KEY, {}))
    raw_key = waiting.pop(key_id, None)
    if raw_key is not None:
        request.session[ISSUED_KEYS_SESSION_KEY] = waiting
    return raw_key


class HostRateInline(admin.TabularInline):
    model = HostRate
    fields = ["effective_from", "wholesale_rate_usd"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-effective_from"]
    verbose_name_plural = "Rate history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the history only grows, through rate edits on the host


class HostAPIKeyInline(admin.TabularInline):
    model = HostAPIKey
    fields = ["key_id", "mode", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "API keys (revoke them from the API keys page)"
    mode = mode_column()

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LiveLicenseCountFilter(admin.SimpleListFilter):
    title = "live licenses"
    parameter_name = "has_live"

    def lookups(self, request, model_admin):
        return [("yes", "Some"), ("no", "None")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(live_license_count__gt=0)
        if self.value() == "no":
            return queryset.filter(live_license_count=0)
        return queryset


class HostForm(forms.ModelForm):
    """Checks each field with the services' own validators, so a refusal is shown on its field."""

    class Meta:
        model = Host
        fields = ["company_name", "contact_email", "wholesale_rate_usd", "billing_address", "tax_id"]
        widgets = {"billing_address": forms.Textarea(attrs={"rows": 4, "cols": 60})}

    def _check(self, validator, name, **kwargs):
        try:
            return validator(self.cleaned_data[name], **kwargs)
        except DomainError as exc:
            raise forms.ValidationError(exc.field_messages().get(name, [exc.message])) from None

    def clean_company_name(self):
        return self._check(validate_company_name, "company_name")

    def clean_contact_email(self):
        return self._check(
            validate_contact_email, "contact_email", exclude_host=self.instance if self.instance.pk else None
        )

    def clean_wholesale_rate_usd(self):
        return self._check(validate_rate, "wholesale_rate_usd")

    def clean_billing_address(self):
        return self._check(validate_billing_address, "billing_address")

    def clean_tax_id(self):
        return self._check(validate_tax_id, "tax_id")


@admin.register(Host)
class HostAdmin(SecretLookupsRefused, DomainErrorAdminMixin, admin.ModelAdmin):
    form = HostForm
    never_deleted_reason = "deactivate a host instead (its API keys stop working); its licenses and bills stay."
    list_display = ["company_name", "contact_email", "wholesale_rate_usd", "active", "live_licenses", "last_activity"]
    list_filter = ["active", LiveLicenseCountFilter]
    search_fields = ["company_name", "contact_email"]
    fields = [
        "company_name",
        "contact_email",
        "wholesale_rate_usd",
        "billing_address",
        "tax_id",
        "active",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [HostRateInline, HostAPIKeyInline]
    actions = ["issue_api_key", "issue_test_api_key", "deactivate", "activate"]

    def get_queryset(self, request):
        # Subqueries rather than joins: a join over licenses and keys would multiply rows.
        last_key_use = HostAPIKey.objects.filter(host=OuterRef("pk")).values("host").annotate(m=Max("last_used_at"))
        live = (
            Host.objects.filter(pk=OuterRef("pk"))
            # Live licenses only: test-mode licenses are the host's sandbox and count nowhere.
            .annotate(
                n=Count(
                    "host_licenses",
                    filter=~Q(host_licenses__status="terminated") & Q(host_licenses__livemode=True),
                )
            )
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(live_license_count=Subquery(live), last_activity_at=Subquery(last_key_use.values("m")))
        )

    @admin.display(description="live licenses", ordering="live_license_count")
    def live_licenses(self, obj):
        return obj.live_license_count

    last_activity = time_column("last_activity_at", "last API use (UTC)")

    def get_readonly_fields(self, request, obj=None):
        # Access is changed with the actions, so it is audited as such; the form edits the rest.
        return [*self.readonly_fields, "active"] if obj else self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["company_name", "contact_email", "wholesale_rate_usd"]
        return self.fields

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def add_view(self, request, form_url="", extra_context=None):
        """Create the host and its first key in one step, then show the key once."""
        if request.method == "POST" and self.has_add_permission(request):
            form = self.get_form(request)(request.POST)
            if form.is_valid():
                try:
                    host, issued = host_create(
                        company_name=form.cleaned_data["company_name"],
                        contact_email=form.cleaned_data["contact_email"],
                        wholesale_rate_usd=form.cleaned_data["wholesale_rate_usd"],
                        actor=Actor.staff(request.user),
                    )
                except DomainError as exc:
                    # Lost a race the form's own checks could not see: start over, nothing was written.
                    self.message_domain_error(request, exc)
                    return HttpResponseRedirect(request.get_full_path())
                return key_show_once_redirect(request, host=host, issued=issued)
        return super().add_view(request, form_url, extra_context)

    def get_urls(self):
        own = [
            path(
                "<uuid:object_id>/key/<str:key_id>/",
                self.admin_site.admin_view(self.key_view),
                name="hosts_host_key",
            )
        ]
        return own + super().get_urls()

    def key_view(self, request, object_id, key_id):
        """The only page that ever shows a raw key: once, never cached; after that it says the key is gone."""
        host = self.get_object(request, str(object_id))
        if host is None or not self.has_change_permission(request, host):
            raise Http404
        api_key = host.api_keys.filter(key_id=key_id).first()
        if api_key is None:
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "host": host,
            "api_key": api_key,
            "raw_key": key_pop(request, key_id),
        }
        context["title"] = "API key issued" if context["raw_key"] else "API key already shown"
        response = TemplateResponse(request, "admin/hosts/key_shown_once.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def save_model(self, request, obj, form, change):
        # Only edits reach here: add_view creates hosts through host_create itself. A refusal
        # raises, so the admin's transaction rolls back and no "changed successfully" is said.
        host_update(
            host=obj,
            actor=Actor.staff(request.user),
            company_name=form.cleaned_data["company_name"],
            contact_email=form.cleaned_data["contact_email"],
            wholesale_rate_usd=form.cleaned_data["wholesale_rate_usd"],
            billing_address=form.cleaned_data["billing_address"],
            tax_id=form.cleaned_data["tax_id"],
        )

    def has_delete_permission(self, request, obj=None):
        return False  # hosts with history are deactivated, never deleted

    @admin.action(description="Issue a new API key (shown once)", permissions=["change"])
    def issue_api_key(self, request, queryset):
        return self._issue_key(request, queryset, livemode=True)

    @admin.action(description="Issue a new test-mode API key (shown once; never billed)", permissions=["change"])
    def issue_test_api_key(self, request, queryset):
        return self._issue_key(request, queryset, livemode=False)

    def _issue_key(self, request, queryset, *, livemode):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one host to issue a key to.", messages.WARNING)
            return None
        host = queryset.get()
        name = f"admin {request.user.get_username()}"[:KEY_NAME_MAX_LENGTH]  # usernames run to 150 characters
        issued = api_key_issue(host=host, name=name, livemode=livemode, actor=Actor.staff(request.user))
        return key_show_once_redirect(request, host=host, issued=issued)

    @admin.action(description="Deactivate: their API keys stop working at once", permissions=["change"])
    def deactivate(self, request, queryset):
        for host in queryset:
            host_update(host=host, active=False, actor=Actor.staff(request.user))
        self.message_user(request, f"Deactivated {queryset.count()} host(s).", messages.SUCCESS)

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        for host in queryset:
            host_update(host=host, active=True, actor=Actor.staff(request.user))
        self.message_user(request, f"Activated {queryset.count()} host(s).", messages.SUCCESS)


@admin.register(HostAPIKey)
class HostAPIKeyAdmin(SecretLookupsRefused, admin.ModelAdmin):
    list_display = ["key_id", "mode", "host", "name", "created", "last_used", "revoked"]
    list_filter = [ModeFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["key_id", "host__company_name", "host__contact_email", "name"]
    list_select_related = ["host"]
    readonly_fields = ["key_id", "mode", "host", "name", "created_at", "last_used_at", "revoked_at"]
    exclude = ["digest", "livemode"]
    actions = ["revoke"]
    never_deleted_reason = "revoke a key instead; its id stays on record."
    mode = mode_column()
    created = time_column("created_at", "created (UTC)")
    last_used = time_column("last_used_at", "last used (UTC)")
    revoked = time_column("revoked_at", "revoked (UTC)")

    def has_add_permission(self, request):
        return False  # keys are issued from the host page, so the raw key can be shown once

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        # The change form is closed (keys are never edited), but revoking is a change to a key.
        return request.user.has_perm("hosts.change_hostapikey")

    @admin.action(description="Revoke selected keys (cannot be undone)", permissions=["revoke"])
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key_id=key.key_id, actor=Actor.staff(request.user))
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
