"""Host API views for bills: each parses, calls a selector or service, serializes."""

from datetime import date

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from billing.documents import BILL_CSV_HEADER, bill_csv_rows, invoice_pdf
from billing.models import TOTAL_MAX_DIGITS, BillStatus, InvoiceStatus
from billing.months import month_format, month_parse, month_start
from billing.selectors import (
    bill_for,
    bills_for_months,
    closed_months_for_host,
    invoice_for_host,
    invoice_lines,
    invoices_for_host,
)
from corrosion.api.pagination import KeysetPagination
from corrosion.api.renderers import CSVRenderer, PDFRenderer, csv_response, pdf_response
from corrosion.api.schema import PAGINATION_DESCRIPTION, error_responses, page_of, page_parameters
from corrosion.api.views import ApiView
from corrosion.errors import DomainError, ErrorCode
from licensing.models import LicenseStatus

# YYYY-MM from 1970 on, as billing.months.month_parse reads it; "not in the future" no pattern can say.
MONTH_PATTERN = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$"


@extend_schema_field({"type": "string", "pattern": MONTH_PATTERN, "example": "2026-05"})
class MonthField(serializers.Field):
    def to_representation(self, value) -> str:
        return month_format(value)


class BillLineSerializer(serializers.Serializer):
    class Meta:
        ref_name = "BillLine"

    server_id = serializers.CharField()
    license_id = serializers.UUIDField()
    license_key = serializers.CharField()
    hostname = serializers.CharField()
    customer_email = serializers.EmailField()
    status = serializers.ChoiceField(choices=LicenseStatus.choices)
    provisioned_at = serializers.DateTimeField()
    terminated_at = serializers.DateTimeField(allow_null=True)


class BillingRecordOutputSerializer(serializers.Serializer):
    """A closed month in the list: its bill without the lines (zeros when nothing was billed)."""

    class Meta:
        ref_name = "BillSummary"

    month = MonthField()
    # A listed bill is always closed: the list holds closed months only.
    status = serializers.ChoiceField(choices=BillStatus.choices)
    active_license_count = serializers.IntegerField()
    wholesale_rate_usd = serializers.DecimalField(max_digits=10, decimal_places=2)
    total_amount_usd = serializers.DecimalField(max_digits=TOTAL_MAX_DIGITS, decimal_places=2)
    generated_at = serializers.DateTimeField()
    invoice = serializers.CharField(allow_null=True, help_text="The month's invoice number; null when it has none.")


class BillOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Bill"

    month = MonthField()
    status = serializers.ChoiceField(choices=BillStatus.choices)
    active_license_count = serializers.IntegerField()
    wholesale_rate_usd = serializers.DecimalField(max_digits=10, decimal_places=2)
    total_amount_usd = serializers.DecimalField(max_digits=TOTAL_MAX_DIGITS, decimal_places=2)
    lines = BillLineSerializer(many=True, help_text="One per billed server.")
    waived_lines = BillLineSerializer(many=True, help_text="The servers the grace rule waived: not billed.")
    invoice = serializers.CharField(allow_null=True, help_text="The month's invoice number; null when it has none.")


class BillingListApi(ApiView):
    @extend_schema(
        operation_id="billing_list",
        summary="List your monthly bills",
        description=(
            "One bill per month Corrosion has closed since your account was created, newest first, "
            "months with nothing billed included (count 0, total 0.00). Each is the bill without its "
            "lines: get `/api/host/billing/{month}` for those, or `/api/host/billing/{month}.csv`. "
            "With a test key the list is empty: test licenses are never billed.\n\n"
            f"{PAGINATION_DESCRIPTION}"
        ),
        parameters=page_parameters(),
        responses={
            200: page_of("BillPage", BillingRecordOutputSerializer),
            **error_responses(400, 401, 429),
        },
    )
    def get(self, request):
        paginator = KeysetPagination("month", parse_value=date.fromisoformat)
        months = paginator.paginate(closed_months_for_host(host=request.user, livemode=request.auth.livemode), request)
        bills = bills_for_months(host=request.user, months=months)
        return paginator.response(BillingRecordOutputSerializer(bills, many=True).data)


_MONTH_PARAMETER = OpenApiParameter(
    "month",
    {"type": "string", "pattern": MONTH_PATTERN},
    OpenApiParameter.PATH,
    description="YYYY-MM, a calendar month in UTC, from the month your account was created to the current one",
)
_BILL_ERRORS = error_responses(400, 401, 404, 429)
_BILL_RULE = (
    "A server (your `server_id`) is billed once for a month when one of its licenses was active or "
    "suspended at any moment of it, at your wholesale rate in force at the month's end; a server whose "
    "licenses that month were all mistakes (terminated soon after provisioning, and together held for "
    "less than the grace period, 72 hours by default) is waived."
)


class BillingMonthApi(ApiView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    CSV_HEADER = BILL_CSV_HEADER

    # `?format=csv` and `Accept: text/csv` still answer CSV here, for clients written before the .csv
    # path; the document describes only JSON here, so a generated client parses this answer as JSON.
    @extend_schema(
        operation_id="billing_retrieve",
        summary="Get one month's bill",
        description=(
            "The bill of one calendar month (UTC). `status` is `closed` once Corrosion has closed the "
            "month (the bill then never changes), or `open` before that: computed live by the same rule, "
            "so you can follow the current month as it goes. `lines` are the billed servers, one each, "
            "with the license each last held in the month; `waived_lines` the servers not billed. "
            "Amounts are decimal strings (`count * rate = total`); `invoice` is the month's invoice "
            "number, or null.\n\n"
            "With a test key: the bill your test licenses would make by the same rule, computed live, "
            "with `status` `test` and `invoice` null. Nothing of test mode is ever billed.\n\n"
            f"{_BILL_RULE}\n\n"
            "A malformed or future month is 400; a month before your account was created is 404 "
            "`bill_not_found`. The same bill as CSV: `GET /api/host/billing/{month}.csv`."
        ),
        # `format` is left out: this operation is JSON (see above).
        parameters=[_MONTH_PARAMETER, OpenApiParameter("format", exclude=True)],
        responses={(200, "application/json"): BillOutputSerializer, **_BILL_ERRORS},
    )
    def get(self, request, month):
        month = self._parse_month(month)
        bill = bill_for(host=request.user, month=month, livemode=request.auth.livemode)
        if request.accepted_renderer.format == CSVRenderer.format:
            return csv_response(self._csv_rows(bill), filename=f"corrosion-billing-{month_format(month)}.csv")
        return Response(BillOutputSerializer(bill).data)

    def handle_exception(self, exc):
        # Every error is JSON (SPEC: HTTP API), even when the client asked for CSV.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @staticmethod
    def _parse_month(value):
        try:
            month = month_parse(value)
        except ValueError as exc:
            raise ValidationError({"month": [str(exc)]}) from None
        if month_start(month) > timezone.now():
            raise ValidationError({"month": [f"{value} has not started yet."]})
        return month

    def _csv_rows(self, bill):
        return bill_csv_rows(month=bill.month, lines=bill.lines, wholesale_rate_usd=bill.wholesale_rate_usd)


@extend_schema_view(
    get=extend_schema(
        operation_id="billing_retrieve_csv",
        summary="Download one month's bill as CSV",
        description=(
            "The same bill as `GET /api/host/billing/{month}`, as a CSV attachment named "
            "`corrosion-billing-YYYY-MM.csv`, for spreadsheets and accounting: a header row "
            f"({', '.join(f'`{column}`' for column in BillingMonthApi.CSV_HEADER)}), then one row per "
            "billed server (waived servers are not rows). Times are ISO 8601 UTC, amounts plain "
            "decimals. Errors are the JSON `Error`, as everywhere."
        ),
        parameters=[_MONTH_PARAMETER],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The bill, as CSV"),
            **_BILL_ERRORS,
        },
    )
)
class BillingMonthCsvApi(BillingMonthApi):
    """The bill's own CSV path: CSV is the only representation here, so the negotiation always picks it."""

    renderer_classes = [CSVRenderer]


# --- Invoices -------------------------------------------------------------------------------------

INVOICE_NUMBER_EXAMPLE = "INV-2026-00001"


class InvoiceOutputSerializer(serializers.Serializer):
    """An invoice as the list shows it: everything but its lines."""

    class Meta:
        ref_name = "InvoiceSummary"

    number = serializers.CharField(help_text=f"`INV-<year of issue>-<5+ digits>`, e.g. `{INVOICE_NUMBER_EXAMPLE}`")
    billing_month = MonthField(help_text="The month billed (YYYY-MM).")
    issued_at = serializers.DateTimeField()
    due_date = serializers.DateField()
    currency = serializers.CharField(help_text="Always `USD`.")
    active_license_count = serializers.IntegerField(help_text="Servers billed.")
    wholesale_rate_usd = serializers.DecimalField(max_digits=10, decimal_places=2)
    total_amount_usd = serializers.DecimalField(max_digits=TOTAL_MAX_DIGITS, decimal_places=2)
    status = serializers.ChoiceField(choices=InvoiceStatus.choices)
    overdue = serializers.BooleanField(help_text="Open and past its due date.")
    paid_at = serializers.DateField(allow_null=True)
    payment_reference = serializers.CharField(help_text="Empty until paid.")
    issuer = serializers.SerializerMethodField()
    buyer = serializers.SerializerMethodField()

    @extend_schema_field(
        inline_serializer(
            "InvoiceIssuer",
            {"name": serializers.CharField(), "address": serializers.ListField(child=serializers.CharField())},
        )
    )
    def get_issuer(self, invoice):
        return {"name": invoice.issuer_name, "address": invoice.issuer_address.splitlines()}

    @extend_schema_field(
        inline_serializer(
            "InvoiceBuyer",
            {
                "company_name": serializers.CharField(),
                "contact_email": serializers.EmailField(),
                "billing_address": serializers.ListField(child=serializers.CharField()),
                "tax_id": serializers.CharField(),
            },
        )
    )
    def get_buyer(self, invoice):
        return {
            "company_name": invoice.buyer_company_name,
            "contact_email": invoice.buyer_contact_email,
            "billing_address": invoice.buyer_billing_address.splitlines(),
            "tax_id": invoice.buyer_tax_id,
        }


class InvoiceDetailOutputSerializer(InvoiceOutputSerializer):
    class Meta:
        ref_name = "Invoice"

    lines = serializers.SerializerMethodField(help_text="One per billed server: the bill's lines.")

    @extend_schema_field(BillLineSerializer(many=True))
    def get_lines(self, invoice):
        return BillLineSerializer(invoice_lines(invoice), many=True).data


_NUMBER_PARAMETER = OpenApiParameter(
    "number", str, OpenApiParameter.PATH, description=f"The invoice number, e.g. `{INVOICE_NUMBER_EXAMPLE}`"
)
_TEST_MODE_NOTE = "With a test key there are no invoices (test licenses are never billed)."


class InvoiceListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=InvoiceStatus.choices, required=False)

    @extend_schema(
        operation_id="invoices_list",
        summary="List your invoices",
        description=(
            "Your invoices, newest first: one for each closed month whose bill is above 0.00, issued "
            "when Corrosion closes the month. `status` is `open`, `paid` or `void`; `overdue` says an "
            "open invoice is past its `due_date`. Filter with `status`. Get one, with its lines, at "
            f"`/api/host/invoices/{{number}}`, or its PDF at `/api/host/invoices/{{number}}.pdf`. "
            f"{_TEST_MODE_NOTE}\n\n{PAGINATION_DESCRIPTION}"
        ),
        parameters=[
            OpenApiParameter("status", {"type": "string", "enum": InvoiceStatus.values}, description="only these"),
            *page_parameters(),
        ],
        responses={200: page_of("InvoicePage", InvoiceOutputSerializer), **error_responses(400, 401, 429)},
    )
    def get(self, request):
        paginator = KeysetPagination("issued_at", filters=self.FilterSerializer)
        filters = paginator.parse_query(request)
        invoices = invoices_for_host(host=request.user, status=filters.get("status"))
        if not request.auth.livemode:
            invoices = invoices.none()
        rows = paginator.paginate(invoices, request)
        return paginator.response(InvoiceOutputSerializer(rows, many=True).data)


class InvoiceApi(ApiView):
    renderer_classes = [JSONRenderer, PDFRenderer]
    carries_secrets = True  # the lines hold license keys

    # `?format=pdf` and `Accept: application/pdf` answer the PDF here too; the document describes
    # the PDF at its own `.pdf` path, so a generated client reads this operation as JSON.
    @extend_schema(
        operation_id="invoices_retrieve",
        summary="Get one invoice",
        description=(
            "One invoice with its `lines` (the billed servers of its month, as in the bill). Another "
            "account's number is 404 `invoice_not_found`, as an unknown one is. The same invoice as a "
            "PDF: `GET /api/host/invoices/{number}.pdf`, or this path with `?format=pdf` or "
            f"`Accept: application/pdf`. {_TEST_MODE_NOTE}"
        ),
        parameters=[_NUMBER_PARAMETER, OpenApiParameter("format", exclude=True)],
        responses={(200, "application/json"): InvoiceDetailOutputSerializer, **error_responses(401, 404, 406, 429)},
    )
    def get(self, request, number):
        invoice = self._invoice(request, number)
        if request.accepted_renderer.format == PDFRenderer.format:
            return pdf_response(invoice_pdf(invoice), filename=f"{invoice.number}.pdf")
        return Response(InvoiceDetailOutputSerializer(invoice).data)

    @staticmethod
    def _invoice(request, number):
        if not request.auth.livemode:
            raise DomainError(ErrorCode.INVOICE_NOT_FOUND, f"No invoice {number!r}.")
        return invoice_for_host(host=request.user, number=number)

    def handle_exception(self, exc):
        # Every error is JSON (SPEC: HTTP API), even when the client asked for a PDF.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


@extend_schema_view(
    get=extend_schema(
        operation_id="invoices_retrieve_pdf",
        summary="Download one invoice as PDF",
        description=(
            "The invoice as a PDF attachment named `<number>.pdf`: issuer, buyer, dates, the month, "
            "servers x rate = total, and one row per billed server (a very large bill's PDF lists the "
            "first rows and says how many servers it covers; the month's CSV, "
            "`/api/host/billing/{month}.csv`, lists every one). Errors are the JSON `Error`, as everywhere."
        ),
        parameters=[_NUMBER_PARAMETER],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice, as PDF"),
            **error_responses(401, 404, 429),
        },
    )
)
class InvoicePdfApi(InvoiceApi):
    """The invoice's own PDF path: PDF is the only representation here."""

    renderer_classes = [PDFRenderer]
