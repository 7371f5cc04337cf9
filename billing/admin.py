"""Staff read closed bills, export them, close months and watch revenue here.

Closing a month and exporting billing need their own permissions (billing.close_billing_month,
billing.export_billing), so support staff can look at bills without being able to do either.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from audit.services import Actor
from billing.charts import revenue_chart_svg
from billing.documents import invoice_html, invoice_pdf
from billing.models import BillingMonth, BillingRecord, CloseSummary, Invoice, InvoiceStatus
from billing.months import month_format, month_latest_closable, month_parse
from billing.selectors import (
    EXPORT_COLUMNS,
    export_rows_for_records,
    invoice_months,
    invoices_outstanding,
    invoices_overdue,
    month_to_close_default,
    monthly_totals,
    months_closed,
    open_month_figures,
    record_months,
)
from billing.services import invoice_mark_paid, invoice_void, month_close
from corrosion.admin import SecretLookupsRefused, time_column
from corrosion.api.renderers import csv_response, pdf_response
from corrosion.errors import DomainError

LINES_SHOWN = 200
# A confirmation closes the month its preview showed, and only within this long of it.
PREVIEW_SALT = "billing.close-month-preview"
PREVIEW_MAX_AGE_SECONDS = 30 * 60


class _ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MonthListFilter(admin.SimpleListFilter):
    """The months that have records, e.g. 2026-10: bills are read by month, never by "past 7 days"."""

    title = "month"
    parameter_name = "month"

    def lookups(self, request, model_admin):
        return [(month_format(month), month_format(month)) for month in record_months()]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            month = month_parse(self.value())
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from None  # the admin answers its "?e=1" page
        return queryset.filter(billing_month=month)


@admin.register(BillingRecord)
class BillingRecordAdmin(SecretLookupsRefused, _ReadOnly, admin.ModelAdmin):
    never_deleted_reason = "a closed month's bills never change."
    list_display = ["month", "host", "servers", "rate", "total", "generated"]
    list_filter = [MonthListFilter, ("host", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["host__company_name", "host__contact_email"]
    list_select_related = ["host"]
    ordering = ["-billing_month", "host__company_name"]
    fields = [
        "host",
        "month",
        "active_license_count",
        "wholesale_rate_usd",
        "total_amount_usd",
        "generated_at",
        "billed_servers",
        "waived_servers",
    ]
    readonly_fields = fields
    actions = ["export_csv"]

    @admin.display(description="month", ordering="billing_month")
    def month(self, obj):
        return month_format(obj.billing_month)

    @admin.display(description="billed servers", ordering="active_license_count")
    def servers(self, obj):
        return obj.active_license_count

    @admin.display(description="rate (USD)", ordering="wholesale_rate_usd")
    def rate(self, obj):
        return obj.wholesale_rate_usd

    @admin.display(description="total (USD)", ordering="total_amount_usd")
    def total(self, obj):
        return obj.total_amount_usd

    generated = time_column("generated_at", "closed (UTC)")

    @admin.display(description="Billed servers")
    def billed_servers(self, obj):
        more = format_html(
            "<p>… and {} more: export the record as CSV for every line.</p>", obj.active_license_count - LINES_SHOWN
        )
        return _lines_table(obj.lines.order_by("server_id"), css_class="billing-lines", more=more)

    @admin.display(description="Waived servers (free mistakes, not billed)")
    def waived_servers(self, obj):
        more = format_html("<p>… and more: the host's bill of {} lists every one.</p>", month_format(obj.billing_month))
        return _lines_table(obj.waived_lines.order_by("server_id"), css_class="billing-waived-lines", more=more)

    @admin.action(description="Export selected records as CSV (needs the export permission)")
    def export_csv(self, request, queryset):
        # Checked here rather than hidden: support staff see the action and get a clear 403.
        if not request.user.has_perm("billing.export_billing"):
            raise PermissionDenied
        months = sorted(set(queryset.values_list("billing_month", flat=True)))
        label = month_format(months[0]) if len(months) == 1 else "selection"
        return csv_response(
            [EXPORT_COLUMNS, *export_rows_for_records(queryset)], filename=f"corrosion-billing-{label}.csv"
        )


def _lines_table(lines, *, css_class, more):
    """A record's lines (or waived lines) as a table: the first LINES_SHOWN, then `more` if there are more."""
    shown = list(lines[: LINES_SHOWN + 1])
    if not shown:
        return "None"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                line.server_id,
                line.license_key,
                line.hostname,
                line.customer_email,
                line.status,
                line.provisioned_at,
                line.terminated_at or "",
            )
            for line in shown[:LINES_SHOWN]
        ),
    )
    note = more if len(shown) > LINES_SHOWN else ""
    return format_html(
        '<table class="{}"><thead><tr><th>Server</th><th>License key</th><th>Hostname</th>'
        "<th>Customer</th><th>Status at the month's end</th><th>Provisioned</th><th>Terminated in the month</th>"
        "</tr></thead><tbody>{}</tbody></table>{}",
        css_class,
        rows,
        note,
    )


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


class CloseMonthForm(forms.Form):
    month = forms.CharField(label="Month (YYYY-MM, UTC)", max_length=7)

    def clean_month(self):
        try:
            return month_parse(self.cleaned_data["month"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(BillingMonth)
class BillingMonthAdmin(SecretLookupsRefused, _ReadOnly, admin.ModelAdmin):
    never_deleted_reason = "a closed month stays closed."
    list_display = ["month_label", "closed", "closed_by"]
    fields = ["month", "closed_at", "closed_by"]
    readonly_fields = fields
    change_list_template = "admin/billing/billingmonth/change_list.html"

    @admin.display(description="month", ordering="month")
    def month_label(self, obj):
        return month_format(obj.month)

    closed = time_column("closed_at", "closed at (UTC)")

    def get_urls(self):
        own = [
            path("close/", self.admin_site.admin_view(self.close_view), name="billing_billingmonth_close"),
            path("overview/", self.admin_site.admin_view(self.overview_view), name="billing_overview"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_close": request.user.has_perm("billing.close_billing_month")}
        return super().changelist_view(request, extra_context)

    def close_view(self, request):
        """Preview a month's close (a dry run), then close it: the same service as the command.

        The confirmation carries the previewed month, signed for this user, and closes only that
        month: if the month field was changed after the preview (or the preview is stale), it
        previews the field's month instead, so nobody closes a month they have not seen.
        """
        if not request.user.has_perm("billing.close_billing_month"):
            raise PermissionDenied
        summary = None
        default = month_to_close_default() or month_latest_closable()
        form = CloseMonthForm(request.POST or None, initial={"month": month_format(default)})
        if request.method == "POST" and form.is_valid():
            month = form.cleaned_data["month"]
            confirmed = "confirm" in request.POST
            if confirmed and self._previewed_month(request) != month:
                confirmed = False
                self.message_user(
                    request,
                    f"Nothing was closed: {month_format(month)} is not the month previewed, or the preview is "
                    f"over {PREVIEW_MAX_AGE_SECONDS // 60} minutes old. Here is its preview: check it, then close it.",
                    messages.WARNING,
                )
            try:
                summary = month_close(month=month, actor=Actor.staff(request.user), dry_run=not confirmed)
            except DomainError as exc:
                form.add_error("month", exc.message)
            else:
                self._message_outcome(request, summary)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Close a billing month",
            "form": form,
            "summary": summary,
            "summary_month": month_format(summary.month) if summary else None,
            "previewed": self._preview_token(request, summary.month)
            if summary and summary.outcome == CloseSummary.Outcome.DRY_RUN
            else None,
            "Outcome": CloseSummary.Outcome,
        }
        response = TemplateResponse(request, "admin/billing/close_month.html", context)
        response["Cache-Control"] = "no-store"  # a preview is a moment's figures, with a token in it
        return response

    @staticmethod
    def _preview_token(request, month):
        return signing.dumps({"month": month_format(month), "user": request.user.pk}, salt=PREVIEW_SALT)

    @staticmethod
    def _previewed_month(request):
        """The month the confirmed preview showed, or None when the token is missing, forged or stale."""
        try:
            previewed = signing.loads(
                request.POST.get("previewed", ""), salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE_SECONDS
            )
        except signing.BadSignature:  # SignatureExpired included
            return None
        if previewed.get("user") != request.user.pk:
            return None
        return month_parse(previewed["month"])

    def _message_outcome(self, request, summary):
        month = month_format(summary.month)
        if summary.outcome == CloseSummary.Outcome.CLOSED:
            self.message_user(
                request,
                f"Closed {month}: {_count(summary.host_count, 'host')}, {_count(summary.server_count, 'server')}, "
                f"{summary.total_amount_usd} USD; issued {_count(len(summary.invoices), 'invoice')}.",
                messages.SUCCESS,
            )
        elif summary.outcome == CloseSummary.Outcome.ALREADY_CLOSED:
            self.message_user(request, f"{month} was already closed.", messages.WARNING)

    def overview_view(self, request):
        """Billed servers and revenue per month over the last 12 closed months, and the open month live."""
        if not request.user.has_perm("billing.view_billingrecord"):
            raise PermissionDenied
        totals = monthly_totals(months=12)
        closed = months_closed(months=[figures.month for figures in totals])
        live = open_month_figures()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Billing overview",
            "outstanding": invoices_outstanding(),
            "invoices_url": reverse("admin:billing_invoice_changelist"),
            # Newest first in the table; a month never closed is told apart from one closed with nothing.
            "rows": [(figures, figures.month in closed) for figures in reversed(totals)],
            "live": live,
            "chart": revenue_chart_svg(totals, closed=closed),
            "records_url": reverse("admin:billing_billingrecord_changelist"),
            "can_close": request.user.has_perm("billing.close_billing_month"),
        }
        return TemplateResponse(request, "admin/billing/overview.html", context)


# --- Invoices -------------------------------------------------------------------------------------


class InvoiceMonthFilter(MonthListFilter):
    """The months that have invoices."""

    parameter_name = "billing_month"

    def lookups(self, request, model_admin):
        return [(month_format(month), month_format(month)) for month in invoice_months()]


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return invoices_overdue(queryset)
        if self.value() == "no":
            return queryset.exclude(pk__in=invoices_overdue(queryset).values("pk"))
        return queryset


class MarkPaidForm(forms.Form):
    paid_at = forms.DateField(label="Payment date (YYYY-MM-DD)", widget=forms.DateInput(attrs={"type": "date"}))
    payment_reference = forms.CharField(label="Payment reference", max_length=200)


class VoidForm(forms.Form):
    void_reason = forms.CharField(label="Reason", max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Invoice)
class InvoiceAdmin(SecretLookupsRefused, _ReadOnly, admin.ModelAdmin):
    """Invoices are issued by the close and change only through the two actions, each with its own
    permission (billing.mark_invoice_paid, billing.void_invoice) and its own page asking for what it needs."""

    never_deleted_reason = "an issued invoice keeps its number; void it instead."
    list_display = ["number", "company", "month", "total", "status", "is_overdue", "issued", "due_date"]
    list_filter = ["status", OverdueFilter, InvoiceMonthFilter]
    search_fields = ["number", "buyer_company_name", "host__company_name"]
    ordering = ["-issued_at", "-sequence"]
    change_form_template = "admin/billing/invoice/change_form.html"
    fields = [
        "number",
        "status",
        "host",
        "record",
        "pdf",
        "paid_at",
        "payment_reference",
        "voided_at",
        "void_reason",
        "document",
    ]
    readonly_fields = fields

    @admin.display(description="company", ordering="buyer_company_name")
    def company(self, obj):
        return obj.buyer_company_name

    @admin.display(description="month", ordering="billing_month")
    def month(self, obj):
        return month_format(obj.billing_month)

    @admin.display(description="total (USD)", ordering="total_amount_usd")
    def total(self, obj):
        return obj.total_amount_usd

    @admin.display(description="overdue", boolean=True)
    def is_overdue(self, obj):
        return obj.overdue

    issued = time_column("issued_at", "issued (UTC)")

    @admin.display(description="PDF")
    def pdf(self, obj):
        return format_html(
            '<a href="{}" id="invoice-pdf-link">{}.pdf</a>',
            reverse("admin:billing_invoice_pdf", args=[obj.pk]),
            obj.number,
        )

    @admin.display(description="The invoice")
    def document(self, obj):
        return invoice_html(obj)

    def get_urls(self):
        own = [
            path("<uuid:object_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"),
            path(
                "<uuid:object_id>/mark-paid/",
                self.admin_site.admin_view(self.mark_paid_view),
                name="billing_invoice_mark_paid",
            ),
            path("<uuid:object_id>/void/", self.admin_site.admin_view(self.void_view), name="billing_invoice_void"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, object_id)
        is_open = invoice is not None and invoice.status == InvoiceStatus.OPEN
        extra_context = {
            **(extra_context or {}),
            "can_mark_paid": is_open and request.user.has_perm("billing.mark_invoice_paid"),
            "can_void": is_open and request.user.has_perm("billing.void_invoice"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _invoice(self, request, object_id):
        invoice = self.get_object(request, str(object_id))
        if invoice is None or not self.has_view_permission(request, invoice):
            raise Http404
        return invoice

    def pdf_view(self, request, object_id):
        invoice = self._invoice(request, object_id)
        return pdf_response(invoice_pdf(invoice), filename=f"{invoice.number}.pdf")

    def mark_paid_view(self, request, object_id):
        return self._action_view(
            request,
            object_id,
            permission="billing.mark_invoice_paid",
            form_class=MarkPaidForm,
            title="Mark {} paid",
            button="Mark paid",
            act=lambda invoice, data: invoice_mark_paid(
                invoice=invoice,
                paid_at=data["paid_at"],
                payment_reference=data["payment_reference"],
                actor=Actor.staff(request.user),
            ),
            done="{} is marked paid.",
        )

    def void_view(self, request, object_id):
        return self._action_view(
            request,
            object_id,
            permission="billing.void_invoice",
            form_class=VoidForm,
            title="Void {}",
            button="Void invoice",
            act=lambda invoice, data: invoice_void(
                invoice=invoice, reason=data["void_reason"], actor=Actor.staff(request.user)
            ),
            done="{} is void.",
        )

    def _action_view(self, request, object_id, *, permission, form_class, title, button, act, done):
        """A page asking what the change needs (its form), then the service; a refusal shows on the form."""
        if not request.user.has_perm(permission):
            raise PermissionDenied
        invoice = self._invoice(request, object_id)
        change_url = reverse("admin:billing_invoice_change", args=[invoice.pk])
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                act(invoice, form.cleaned_data)
            except DomainError as exc:
                for field, messages_ in exc.field_messages().items():
                    form.add_error(field if field in form.fields else None, messages_)
            else:
                self.message_user(request, done.format(invoice.number), messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title.format(invoice.number),
            "invoice": invoice,
            "form": form,
            "button": button,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/billing/invoice/action.html", context)
