"""Staff read closed bills, export them, close months and watch revenue here.

Closing a month and exporting billing need their own permissions (billing.close_billing_month,
billing.export_billing), so support staff can look at bills without being able to do either.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from audit.services import Actor
from billing.charts import revenue_chart_svg
from billing.models import BillingMonth, BillingRecord, CloseSummary
from billing.months import month_format, month_latest_closable, month_parse
from billing.selectors import (
    EXPORT_COLUMNS,
    export_rows_for_records,
    month_to_close_default,
    monthly_totals,
    open_month_figures,
)
from billing.services import month_close
from corrosion.admin import SecretLookupsRefused
from corrosion.api.renderers import csv_response
from corrosion.errors import DomainError

LINES_SHOWN = 200


class _ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillingRecord)
class BillingRecordAdmin(SecretLookupsRefused, _ReadOnly, admin.ModelAdmin):
    list_display = ["month", "host", "active_license_count", "wholesale_rate_usd", "total_amount_usd", "generated_at"]
    list_filter = ["billing_month", ("host", admin.RelatedOnlyFieldListFilter)]
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


class CloseMonthForm(forms.Form):
    month = forms.CharField(label="Month (YYYY-MM, UTC)", max_length=7)

    def clean_month(self):
        try:
            return month_parse(self.cleaned_data["month"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(BillingMonth)
class BillingMonthAdmin(SecretLookupsRefused, _ReadOnly, admin.ModelAdmin):
    list_display = ["month_label", "closed_at", "closed_by"]
    fields = ["month", "closed_at", "closed_by"]
    readonly_fields = fields
    change_list_template = "admin/billing/billingmonth/change_list.html"

    @admin.display(description="month", ordering="month")
    def month_label(self, obj):
        return month_format(obj.month)

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
        """Preview a month's close (a dry run), then close it: the same service as the command."""
        if not request.user.has_perm("billing.close_billing_month"):
            raise PermissionDenied
        summary = None
        confirmed = request.method == "POST" and "confirm" in request.POST
        default = month_to_close_default() or month_latest_closable()
        form = CloseMonthForm(request.POST or None, initial={"month": month_format(default)})
        if request.method == "POST" and form.is_valid():
            month = form.cleaned_data["month"]
            try:
                summary = month_close(month=month, actor=Actor.staff(request.user), dry_run=not confirmed)
            except DomainError as exc:
                form.add_error("month", exc.message)
            else:
                if summary.outcome == CloseSummary.Outcome.CLOSED:
                    self.message_user(
                        request,
                        f"Closed {month_format(month)}: {summary.host_count} hosts, {summary.server_count} servers, "
                        f"{summary.total_amount_usd} USD.",
                        messages.SUCCESS,
                    )
                elif summary.outcome == CloseSummary.Outcome.ALREADY_CLOSED:
                    self.message_user(request, f"{month_format(month)} was already closed.", messages.WARNING)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Close a billing month",
            "form": form,
            "summary": summary,
            "Outcome": CloseSummary.Outcome,
        }
        return TemplateResponse(request, "admin/billing/close_month.html", context)

    def overview_view(self, request):
        """Billed servers and revenue per month over the last 12 closed months, and the open month live."""
        if not request.user.has_perm("billing.view_billingrecord"):
            raise PermissionDenied
        totals = monthly_totals(months=12)
        live = open_month_figures()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Billing overview",
            "totals": totals,
            "live": live,
            "chart": revenue_chart_svg(totals),
            "records_url": reverse("admin:billing_billingrecord_changelist"),
        }
        return TemplateResponse(request, "admin/billing/overview.html", context)
