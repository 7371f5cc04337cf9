"""Host API views for licenses: each parses, calls a selector or service, serializes."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from audit.services import Actor
from corrosion.api.fields import ClosedSerializer, StrictCharField, no_control_characters
from corrosion.api.pagination import KeysetPagination
from corrosion.api.schema import PAGINATION_DESCRIPTION, error_responses, page_of, page_parameters, ref
from corrosion.api.views import ApiView
from licensing.limits import (
    CUSTOMER_EMAIL_MAX_LENGTH,
    HOSTNAME_MAX_LENGTH,
    LICENSE_KEY_MAX_LENGTH,
    MAX_BULK_ITEMS,
    SERVER_ID_MAX_LENGTH,
)
from licensing.models import LicenseStatus
from licensing.schema import LICENSE_UPDATE_SCHEMA, PROVISION_REQUEST_SCHEMA, PROVISION_RESPONSE_SCHEMA
from licensing.selectors import license_for_host, licenses_for_host, online_since
from licensing.serializers import LicenseOutputSerializer
from licensing.services import (
    ProvisionItem,
    license_provision,
    license_resume,
    license_suspend,
    license_terminate,
    license_update,
)


def _customer_email_field(**kwargs):
    # A quoted local part may hold control characters ("a\x1bb"@example.com is a valid address):
    # refused here as in every other text field.
    return serializers.EmailField(max_length=CUSTOMER_EMAIL_MAX_LENGTH, validators=[no_control_characters], **kwargs)


class LicenseApiView(ApiView):
    """Every licensing view answers license keys and companion tokens: no cache may keep them."""

    carries_secrets = True


class ProvisionApi(LicenseApiView):
    class InputSerializer(ClosedSerializer):
        server_id = StrictCharField(min_length=1, max_length=SERVER_ID_MAX_LENGTH, validators=[no_control_characters])
        hostname = StrictCharField(min_length=1, max_length=HOSTNAME_MAX_LENGTH, validators=[no_control_characters])
        customer_email = _customer_email_field()

    @extend_schema(
        operation_id="licenses_provision",
        summary="License game servers: one, or up to 100 at once",
        description=(
            f"Send one `ProvisionItem` to license one server, or an array of 1 to {MAX_BULK_ITEMS} of them. "
            "The answer is the `License` (or the array of licenses, in request order) with the "
            "`license_key` the plugin runs with and the `companion_token` your customer pairs the "
            "companion app with: hand both to your customer, and keep them out of logs.\n\n"
            "Safe to retry: an item whose `server_id` has a live license of yours with the same "
            "`hostname` and `customer_email` (both compared ignoring case) answers that license, and "
            "nothing new is created or billed. The status is 201 when anything was created, 200 when "
            "every item was such a retry. The same `server_id` with another hostname or e-mail is 409 "
            "`server_id_conflict`: terminate the old license first.\n\n"
            "A bulk call is all or nothing. Any invalid item, or a `server_id` twice in the array, is "
            "400 with `error.fields` by item index, then field; else any conflicting item is 409 with "
            "`error.fields` by item index (an `ItemConflict` each). Either way nothing is written."
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
        results = license_provision(
            host=request.user,
            items=items,
            actor=Actor.host_key(request.auth.key_id),
            livemode=request.auth.livemode,
            bulk=bulk,
        )

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


class LicenseListApi(LicenseApiView):
    class FilterSerializer(serializers.Serializer):
        """Exact matches; `hostname` and `customer_email` ignore case."""

        status = serializers.ChoiceField(choices=LicenseStatus.choices, required=False)
        server_id = serializers.CharField(max_length=SERVER_ID_MAX_LENGTH, required=False)
        hostname = serializers.CharField(max_length=HOSTNAME_MAX_LENGTH, required=False)
        customer_email = serializers.CharField(max_length=CUSTOMER_EMAIL_MAX_LENGTH, required=False)
        license_key = serializers.CharField(max_length=LICENSE_KEY_MAX_LENGTH, required=False)
        online = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="licenses_list",
        summary="List your licenses, newest first",
        description=(
            "Your licenses, newest provisioned first, each with when its plugin was last heard from "
            "(`last_seen_at`) and whether it is `online` now. Filters combine: a license must match "
            "every one given. A query parameter the list does not take is 400, so a typo never "
            f"answers the whole list.\n\n{PAGINATION_DESCRIPTION}"
        ),
        parameters=[
            FilterSerializer,
            OpenApiParameter("status", ref("LicenseStatus"), description="only licenses in this status"),
            *page_parameters(),
        ],
        responses={
            200: page_of("LicensePage", LicenseOutputSerializer),
            **error_responses(400, 401, 429),
        },
    )
    def get(self, request):
        paginator = KeysetPagination("provisioned_at", id_field="license_id", filters=self.FilterSerializer)
        filters = paginator.parse_query(request)
        rows = paginator.paginate(
            licenses_for_host(host=request.user, livemode=request.auth.livemode, filters=filters), request
        )
        data = LicenseOutputSerializer(rows, many=True, context={"online_since": online_since()}).data
        return paginator.response(data)


def _own_license(request, license_id):
    # The key's mode: a test key's request finds only test licenses, a live key's only live ones.
    host_license = license_for_host(host=request.user, livemode=request.auth.livemode, license_id=license_id)
    if host_license is None:
        raise NotFound()
    return host_license


class LicenseDetailApi(LicenseApiView):
    class UpdateSerializer(ClosedSerializer):
        unknown_field_message = "This field cannot be changed."

        hostname = StrictCharField(
            min_length=1, max_length=HOSTNAME_MAX_LENGTH, validators=[no_control_characters], required=False
        )
        customer_email = _customer_email_field(required=False)

        def validate(self, attrs):
            if not attrs:
                raise ValidationError({"non_field_errors": ["Send hostname and/or customer_email."]})
            return attrs

    @extend_schema(
        operation_id="licenses_retrieve",
        summary="Get one license",
        description=(
            "One of your licenses, by its `id`, with the same fields as in the list. Another host's "
            "license id is 404, exactly like an id that does not exist."
        ),
        responses={200: LicenseOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request, license_id):
        return Response(LicenseOutputSerializer(_own_license(request, license_id)).data)

    @extend_schema(
        operation_id="licenses_update",
        summary="Change a license's hostname or customer",
        description=(
            "Send `hostname`, `customer_email`, or both. A new `customer_email` moves the license to "
            "that customer. `subdomain` and `panel_url` never change, and any other field is 400. "
            "A terminated license cannot be changed (409)."
        ),
        request={"application/json": LICENSE_UPDATE_SCHEMA},
        responses={200: LicenseOutputSerializer, **error_responses(400, 401, 404, 409, 413, 415, 429)},
    )
    def patch(self, request, license_id):
        host_license = _own_license(request, license_id)
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        host_license = license_update(
            host_license=host_license, actor=Actor.host_key(request.auth.key_id), **serializer.validated_data
        )
        return Response(LicenseOutputSerializer(host_license).data)


class _LicenseStatusChangeApi(LicenseApiView):
    """POST with no body; a repeat of a change already in effect is a no-op 200."""

    change = None  # the service that makes the change

    def post(self, request, license_id):
        host_license = _own_license(request, license_id)
        host_license = type(self).change(host_license=host_license, actor=Actor.host_key(request.auth.key_id))
        return Response(LicenseOutputSerializer(host_license).data)


_STATUS_CHANGE_RESPONSES = {200: LicenseOutputSerializer, **error_responses(401, 404, 409, 429)}


@extend_schema_view(
    post=extend_schema(
        operation_id="licenses_suspend",
        summary="Suspend a license",
        description=(
            "The plugin stops validating (its heartbeat answers `valid: false`) until the license is "
            "resumed. A suspended license is still billed. Suspending a suspended license changes "
            "nothing (200); a terminated license is 409. No request body."
        ),
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
        description=(
            "The plugin validates again. Resuming an active license changes nothing (200). A terminated "
            "license is 409, and so is a license Corrosion staff suspended (`suspended_by_staff`): "
            "contact Corrosion to have it resumed. No request body."
        ),
        request=None,
        responses=_STATUS_CHANGE_RESPONSES,
    )
)
class LicenseResumeApi(_LicenseStatusChangeApi):
    change = staticmethod(license_resume)


@extend_schema_view(
    post=extend_schema(
        operation_id="licenses_terminate",
        summary="Terminate a license for good",
        description=(
            "Final: the license can never be resumed, and its `server_id` is free to be provisioned "
            "again. The server is still billed for the current month, unless all its licenses this "
            "month were mistakes (each terminated soon after it was provisioned, and together held for "
            "less than the grace period, 72 hours by default). Terminating a terminated license "
            "changes nothing (200). No request body."
        ),
        request=None,
        responses=_STATUS_CHANGE_RESPONSES,
    )
)
class LicenseTerminateApi(_LicenseStatusChangeApi):
    change = staticmethod(license_terminate)
