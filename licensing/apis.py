"""Host API views for licenses: each parses, calls a selector or service, serializes."""

import math
import re
import time

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from audit.services import Actor
from corrosion.api.errors import error_response
from corrosion.api.exceptions import Conflict, ServiceUnavailable
from corrosion.api.pagination import KeysetPagination
from corrosion.api.parsers import MalformedJSON, loads_json
from corrosion.api.schema import error_responses, page_of, page_parameters
from corrosion.api.throttling import client_address, hit
from corrosion.api.views import ApiView
from licensing.models import LicenseStatus
from licensing.schema import PRINTABLE_PATTERN
from licensing.selectors import license_for_host, licenses_for_host, online_since
from licensing.serializers import LicenseOutputSerializer
from licensing.services import (
    HeartbeatResult,
    InvalidTransition,
    ProvisionContention,
    ProvisionItem,
    ServerIdConflict,
    heartbeat_record,
    license_provision,
    license_resume,
    license_suspend,
    license_terminate,
    license_update,
)

MAX_BULK_ITEMS = 100
# Unicode's control characters (C0, DEL and C1: NEL, CSI...), and lone surrogates no database stores.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would turn 42 into "42", which is not what a client meant."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def no_control_characters(value):
    if _CONTROL_CHARACTERS.search(value):
        raise serializers.ValidationError("Control characters are not allowed.")


_PROVISION_ITEM_SCHEMA = {
    "type": "object",
    "required": ["server_id", "hostname", "customer_email"],
    "properties": {
        "server_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": PRINTABLE_PATTERN,
            "description": "your own id of the server; unique within one bulk call",
        },
        "hostname": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": PRINTABLE_PATTERN},
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
# Written out, not derived from UpdateSerializer: the view refuses any other field and an empty body,
# which a serializer cannot tell drf-spectacular.
LICENSE_UPDATE_SCHEMA = {
    "type": "object",
    "properties": {
        "hostname": _PROVISION_ITEM_SCHEMA["properties"]["hostname"],
        "customer_email": _PROVISION_ITEM_SCHEMA["properties"]["customer_email"],
    },
    "minProperties": 1,
    "additionalProperties": False,
}
PROVISION_RESPONSE_SCHEMA = {
    "oneOf": [
        {"$ref": "#/components/schemas/License"},
        {"type": "array", "items": {"$ref": "#/components/schemas/License"}},
    ]
}


class ProvisionApi(ApiView):
    class InputSerializer(serializers.Serializer):
        server_id = StrictCharField(min_length=1, max_length=255, validators=[no_control_characters])
        hostname = StrictCharField(min_length=1, max_length=255, validators=[no_control_characters])
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
        except ProvisionContention as exc:
            raise ServiceUnavailable("Busy provisioning these servers; retry shortly.") from exc
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


class LicenseListApi(ApiView):
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
            *page_parameters(),
        ],
        responses={
            200: page_of("LicensePage", LicenseOutputSerializer),
            **error_responses(400, 401, 429),
        },
    )
    def get(self, request):
        # A plain dict: with a QueryDict, DRF reads an absent boolean as false.
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = licenses_for_host(host=request.user, filters=filters.validated_data)
        paginator = KeysetPagination("provisioned_at", id_field="license_id")
        rows = paginator.paginate(queryset, request)
        data = LicenseOutputSerializer(rows, many=True, context={"online_since": online_since()}).data
        return paginator.response(data)


def _own_license(request, license_id):
    host_license = license_for_host(host=request.user, license_id=license_id)
    if host_license is None:
        raise NotFound()
    return host_license


class LicenseDetailApi(ApiView):
    class UpdateSerializer(serializers.Serializer):
        hostname = StrictCharField(min_length=1, max_length=255, validators=[no_control_characters], required=False)
        customer_email = serializers.EmailField(max_length=150, required=False)

        def validate(self, attrs):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
            if not attrs:
                raise ValidationError({"non_field_errors": ["Send hostname and/or customer_email."]})
            return attrs

    @extend_schema(
        operation_id="licenses_retrieve",
        summary="One of this host's licenses",
        responses={200: LicenseOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request, license_id):
        return Response(LicenseOutputSerializer(_own_license(request, license_id)).data)

    @extend_schema(
        operation_id="licenses_update",
        summary="Change the hostname and/or move the license to another customer",
        description="`subdomain` and `panel_url` never change. Any other field is refused (400).",
        request={"application/json": LICENSE_UPDATE_SCHEMA},
        responses={200: LicenseOutputSerializer, **error_responses(400, 401, 404, 409, 413, 415, 429)},
    )
    def patch(self, request, license_id):
        host_license = _own_license(request, license_id)
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            host_license = license_update(
                host_license=host_license, actor=Actor.host_key(request.auth.key_id), **serializer.validated_data
            )
        except InvalidTransition as exc:
            raise Conflict(str(exc), code="license_terminated") from exc
        return Response(LicenseOutputSerializer(host_license).data)


class _LicenseStatusChangeApi(ApiView):
    """POST with no body; a repeat of a change already in effect is a no-op 200."""

    change = None  # the service that makes the change

    def post(self, request, license_id):
        host_license = _own_license(request, license_id)
        try:
            host_license = type(self).change(host_license=host_license, actor=Actor.host_key(request.auth.key_id))
        except InvalidTransition as exc:
            raise Conflict(str(exc), code="invalid_transition") from exc
        return Response(LicenseOutputSerializer(host_license).data)


_STATUS_CHANGE_RESPONSES = {200: LicenseOutputSerializer, **error_responses(401, 404, 409, 429)}


@extend_schema_view(
    post=extend_schema(
        operation_id="licenses_suspend",
        summary="Suspend: the plugin stops validating; still billed",
        request=None,
        responses=_STATUS_CHANGE_RESPONSES,
    )
)
class LicenseSuspendApi(_LicenseStatusChangeApi):
    change = staticmethod(license_suspend)


@extend_schema_view(
    post=extend_schema(
        operation_id="licenses_resume",
        summary="Resume a suspended license",
        request=None,
        responses=_STATUS_CHANGE_RESPONSES,
    )
)
class LicenseResumeApi(_LicenseStatusChangeApi):
    change = staticmethod(license_resume)


@extend_schema_view(
    post=extend_schema(
        operation_id="licenses_terminate",
        summary="Terminate for good: frees the server_id; billing stops after this month",
        request=None,
        responses=_STATUS_CHANGE_RESPONSES,
    )
)
class LicenseTerminateApi(_LicenseStatusChangeApi):
    change = staticmethod(license_terminate)


# --- The plugin heartbeat -----------------------------------------------------------------------
#
# The busiest endpoint (one call a minute from every game server), so it is a plain Django view:
# no DRF request wrapping, authentication, throttles or serializers, and one service call that
# issues a single UPDATE ... RETURNING. It still answers the contract's JSON errors.

LICENSE_KEY_PATTERN = re.compile(r"^CRN(-[0-9A-HJKMNP-TV-Z]{5}){6}$")
MAX_PLAYERS = 1_000_000


# Addresses this process has seen go over the unknown-key limit, until their window ends. The
# shared counter decides; this local copy lets every later heartbeat from such an address be
# refused before the database, with no cache round trip on the path every real server takes.
_blocked_until: dict[str, float] = {}
_BLOCKED_MAX = 10_000


def _blocked_for(address):
    until = _blocked_until.get(address)
    if until is None:
        return None
    remaining = until - time.monotonic()
    if remaining <= 0:
        _blocked_until.pop(address, None)
        return None
    return math.ceil(remaining)


def _block(address, seconds):
    if len(_blocked_until) >= _BLOCKED_MAX:
        _blocked_until.clear()  # a flood from many addresses: start over rather than grow
    _blocked_until[address] = time.monotonic() + seconds


def _guessing(retry_after):
    return error_response(
        429,
        "rate_limited",
        "Too many unknown license keys from this address.",
        headers={"Retry-After": str(retry_after)},
    )


def _parse_heartbeat(body):
    if not isinstance(body, dict):
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors = {}
    license_key = body.get("license_key")
    version = body.get("version")
    players = body.get("players")
    if not isinstance(license_key, str) or not license_key:
        errors["license_key"] = ["This field is required and must be a string."]
    elif len(license_key) > 64:
        errors["license_key"] = ["Ensure this field has no more than 64 characters."]
    if version is not None and (
        not isinstance(version, str) or len(version) > 64 or _CONTROL_CHARACTERS.search(version)
    ):
        errors["version"] = ["Must be a string of at most 64 printable characters."]
    if players is not None and (
        isinstance(players, bool) or not isinstance(players, int) or not 0 <= players <= MAX_PLAYERS
    ):
        errors["players"] = [f"Must be a whole number from 0 to {MAX_PLAYERS}."]
    return (license_key, version, players), errors


@csrf_exempt
@require_POST
def heartbeat(request):
    if request.content_type != "application/json":
        return error_response(415, "unsupported_media_type", "The request body must be JSON (application/json).")
    try:
        body = loads_json(request.body)
    except MalformedJSON:
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    parsed, errors = _parse_heartbeat(body)
    if errors:
        return error_response(400, "invalid", "The request is invalid; see fields.", fields=errors)
    license_key, version, players = parsed
    address = client_address(request)
    blocked = _blocked_for(address)
    if blocked is not None:
        return _guessing(blocked)

    # A malformed key cannot exist: answer it as unknown without asking the database.
    result = (
        heartbeat_record(license_key=license_key, version=version, players=players)
        if LICENSE_KEY_PATTERN.match(license_key)
        else HeartbeatResult(known=False)
    )
    if not result.known:
        # Only unknown keys are counted in the shared cache, so real servers pay nothing for it.
        allowed, retry_after = hit("heartbeat-unknown", address, settings.HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT)
        if not allowed:
            _block(address, retry_after)
            return _guessing(retry_after)
        return error_response(404, "license_not_found", "No license has this key.")
    if result.retry_after is not None:
        return error_response(
            429,
            "rate_limited",
            "Heartbeat sent too soon after the last one.",
            headers={"Retry-After": str(result.retry_after)},
        )
    return JsonResponse({"status": result.status, "valid": result.status == LicenseStatus.ACTIVE})
