"""Host API views for bills: each parses, calls a selector or service, serializes."""

from datetime import date

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from billing.models import TOTAL_MAX_DIGITS, BillStatus
from billing.months import month_format, month_parse, month_start
from billing.rules import LINE_FIELDS
from billing.selectors import bill_for, bills_for_months, closed_months_for_host
from corrosion.api.pagination import KeysetPagination
from corrosion.api.renderers import CSVRenderer, csv_response
from corrosion.api.schema import error_responses, page_of, page_parameters
from corrosion.api.views import ApiView
from licensing.models import LicenseStatus

# YYYY-MM from 1970 on, as billing.months.month_parse reads it; "not in the future" no pattern can say.
MONTH_PATTERN = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$"


@extend_schema_field({"type": "string", "pattern": MONTH_PATTERN, "example": "2026-05"})
class MonthField(serializers.Field):
    def to_representation(self, value) -> str:
        return month_format(value)


class BillLineSerializer(serializers.Serializer):
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

    month = MonthField()
    # A listed bill is always closed: the list holds closed months only.
    status = serializers.ChoiceField(choices=BillStatus.choices)
    active_license_count = serializers.IntegerField()
    wholesale_rate_usd = serializers.DecimalField(max_digits=10, decimal_places=2)
    total_amount_usd = serializers.DecimalField(max_digits=TOTAL_MAX_DIGITS, decimal_places=2)
    generated_at = serializers.DateTimeField()
    invoice = serializers.CharField(allow_null=True, help_text="The month's invoice number; null when it has none.")


class BillOutputSerializer(serializers.Serializer):
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
        parameters=page_parameters(),
        responses={
            200: page_of("BillPage", BillingRecordOutputSerializer),
            **error_responses(400, 401, 429),
        },
    )
    def get(self, request):
        paginator = KeysetPagination("month", parse_value=date.fromisoformat)
        months = paginator.paginate(closed_months_for_host(host=request.user), request)
        bills = bills_for_months(host=request.user, months=months)
        return paginator.response(BillingRecordOutputSerializer(bills, many=True).data)


class BillingMonthApi(ApiView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    CSV_HEADER = ("month", *LINE_FIELDS, "wholesale_rate_usd")

    @extend_schema(
        operation_id="billing_retrieve",
        parameters=[
            OpenApiParameter(
                "month",
                {"type": "string", "pattern": MONTH_PATTERN},
                OpenApiParameter.PATH,
                description="YYYY-MM, from 1970-01 to the current month",
            ),
            OpenApiParameter("format", str, enum=["json", "csv"], description="or send Accept: text/csv"),
        ],
        responses={
            (200, "application/json"): BillOutputSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            **error_responses(400, 401, 404, 429),
        },
    )
    def get(self, request, month):
        month = self._parse_month(month)
        bill = bill_for(host=request.user, month=month)
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
        yield self.CSV_HEADER
        month = month_format(bill.month)
        for line in bill.lines:
            yield (month, *(getattr(line, field) for field in LINE_FIELDS), bill.wholesale_rate_usd)
