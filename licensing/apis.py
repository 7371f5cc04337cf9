"""Host API views for licenses: each parses, calls a selector or service, serializes."""

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from corrosion.api.exceptions import Conflict
from corrosion.api.pagination import KeysetPagination
from corrosion.api.schema import error_responses
from licensing.models import LicenseStatus
from licensing.selectors import license_for_host, licenses_for_host, online_since
from licensing.serializers import LicenseOutputSerializer
from licensing.services import ProvisionItem, ServerIdConflict, license_provision

MAX_BULK_ITEMS = 100
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def no_control_characters(value):
    if _CONTROL_CHARACTERS.search(value):
        raise serializers.ValidationError("Control characters are not allowed.")


_PROVISION_ITEM_SCHEMA = {
    "type": "object",
    "required": ["server_id", "hostname", "customer_email"],
    "properties": {
        "server_id": {"type": "string", "minLength": 1, "maxLength": 255, "description": "your own id of the server"},
        "hostname": {"type": "string", "minLength": 1, "maxLength": 255},
        "customer_email": {"type": "string", "format": "email", "maxLength": 150},
    },
}
# One object, or an array of them: drf-spectacular cannot say "either" from a serializer.
PROVISION_REQUEST_SCHEMA = {
    "oneOf": [
        _PROVISION_ITEM_SCHEMA,
        {"type": "array", "items": _PROVISION_ITEM_SCHEMA, "minItems": 1, "maxItems": MAX_BULK_ITEMS},
    ]
}
PROVISION_RESPONSE_SCHEMA = {
    "oneOf": [
        {"$ref": "#/components/schemas/License"},
        {"type": "array", "items": {"$ref": "#/components/schemas/License"}},
    ]
}


class ProvisionApi(APIView):
    class InputSerializer(serializers.Serializer):
        server_id = serializers.CharField(min_length=1, max_length=255, validators=[no_control_characters])
        hostname = serializers.CharField(min_length=1, max_length=255, validators=[no_control_characters])
        # The customer's username is their e-mail, and Django usernames hold 150 characters.
        customer_email = serializers.EmailField(max_length=150)

    @extend_schema(
        operation_id="licenses_provision",
        summary="Provision a license per server (one object, or an array of 1-100)",
        description=(
            "Retrying with the same server_id, hostname and customer_email returns the same license (200). "
            "A bulk call is all or nothing."
        ),
        request={"application/json": PROVISION_REQUEST_SCHEMA},
        responses={
            201: OpenApiResponse(PROVISION_RESPONSE_SCHEMA, description="Created (bulk: an array, in request order)"),
            200: OpenApiResponse(PROVISION_RESPONSE_SCHEMA, description="Every item was a retry: the same licenses"),
            **error_responses(400, 401, 409, 413, 415, 429),
        },
    )
    def post(self, request):
        bulk = isinstance(request.data, list)
        raw_items = request.data if bulk else [request.data]
        items = self._parse(raw_items, bulk=bulk)
        try:
            results = license_provision(host=request.user, items=items, actor=Actor.host_key(request.auth.key_id))
        except ServerIdConflict as exc:
            message = "A server_id already has a live license with another hostname or customer_email."
            if bulk:
                fields = {str(i): {"code": "server_id_conflict", "message": m} for i, m in exc.conflicts.items()}
                raise Conflict(message, code="server_id_conflict", fields=fields) from exc
            raise Conflict(exc.conflicts[0], code="server_id_conflict") from exc

        data = LicenseOutputSerializer([r.host_license for r in results], many=True, context=self._context()).data
        created = any(r.created for r in results)
        return Response(data if bulk else data[0], status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def _parse(self, raw_items, *, bulk):
        if bulk and not 1 <= len(raw_items) <= MAX_BULK_ITEMS:
            raise ValidationError({"non_field_errors": [f"Send 1 to {MAX_BULK_ITEMS} items."]})
        errors, items = {}, []
        for index, raw in enumerate(raw_items):
            if not isinstance(raw, dict):
                errors[index] = {"non_field_errors": ["Expected a JSON object."]}
                continue
            serializer = self.InputSerializer(data=raw)
            if serializer.is_valid():
                items.append(ProvisionItem(**serializer.validated_data))
            else:
                errors[index] = serializer.errors
        if not errors:
            seen = {}
            for index, item in enumerate(items):
                if item.server_id in seen:
                    message = (
                        f"server_id appears more than once in this request (items {seen[item.server_id]} and {index})."
                    )
                    errors.setdefault(seen[item.server_id], {"server_id": [message]})
                    errors[index] = {"server_id": [message]}
                else:
                    seen[item.server_id] = index
        if errors:
            raise ValidationError({str(i): e for i, e in sorted(errors.items())} if bulk else errors[0])
        return items

    @staticmethod
    def _context():
        return {"online_since": online_since()}


class LicenseListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=LicenseStatus.choices, required=False)
        server_id = serializers.CharField(max_length=255, required=False)
        customer_email = serializers.CharField(max_length=254, required=False)
        online = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="licenses_list",
        summary="This host's licenses, newest first",
        parameters=[
            FilterSerializer,
            OpenApiParameter("page_size", int, description="1 to 500, default 50"),
            OpenApiParameter("cursor", str, description="from a previous page's `next` or `previous` link"),
        ],
        responses={
            200: inline_serializer(
                "LicensePage",
                {
                    "results": LicenseOutputSerializer(many=True),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                },
            ),
            **error_responses(400, 401, 429),
        },
    )
    def get(self, request):
        # A plain dict: with a QueryDict, DRF reads an absent boolean as false.
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = licenses_for_host(host=request.user, filters=filters.validated_data)
        paginator = KeysetPagination("provisioned_at")
        rows = paginator.paginate(queryset, request)
        data = LicenseOutputSerializer(rows, many=True, context={"online_since": online_since()}).data
        return paginator.response(data)


class LicenseDetailApi(APIView):
    @extend_schema(
        operation_id="licenses_retrieve",
        summary="One of this host's licenses",
        responses={200: LicenseOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request, license_id):
        host_license = license_for_host(host=request.user, license_id=license_id)
        if host_license is None:
            raise NotFound()
        return Response(LicenseOutputSerializer(host_license).data)
