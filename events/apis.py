"""Host API views for events and webhook endpoints: each parses, calls a selector or service, serializes.

The key's mode is the endpoint's and the events' mode: a test key sees only test-mode endpoints
and events, a live key only live ones; the other mode's ids are 404 like made-up ones.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from audit.services import Actor
from corrosion.api.fields import ClosedSerializer, StrictCharField, no_control_characters
from corrosion.api.pagination import KeysetPagination
from corrosion.api.schema import PAGINATION_DESCRIPTION, error_responses, page_of, page_parameters
from corrosion.api.views import ApiView
from events import selectors, services
from events.models import EVENT_TYPES, DeliveryState


class EventOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Event"

    id = serializers.CharField(help_text="`evt_…`; receivers de-duplicate by it")
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    created_at = serializers.DateTimeField()
    livemode = serializers.BooleanField()
    data = serializers.DictField(help_text="a license as the API shows it; for a month or invoice, its summary")

    def to_representation(self, instance):
        return instance.envelope()


class EndpointOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "WebhookEndpoint"

    id = serializers.UUIDField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField(), help_text='event types, or `["*"]` for all')
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class EndpointWithSecretSerializer(EndpointOutputSerializer):
    class Meta:
        ref_name = "WebhookEndpointWithSecret"

    secret = serializers.CharField(help_text="`whsec_…`: signs every delivery; shown this once")


class DeliveryOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "WebhookDelivery"

    id = serializers.UUIDField()
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    state = serializers.ChoiceField(choices=DeliveryState.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    response_excerpt = serializers.CharField(help_text="the start of the receiver's last answer")
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def _validate_events(value):
    if value == ["*"]:
        return value
    if not value:
        raise ValidationError('Name at least one event type, or ["*"] for all.')
    unknown = [name for name in value if name not in EVENT_TYPES]
    if unknown:
        raise ValidationError(f"Unknown event types: {', '.join(map(str, unknown))}.")
    return sorted(set(value))


class _EventsField(serializers.ListField):
    child = StrictCharField(max_length=64)

    def __init__(self, **kwargs):
        super().__init__(max_length=len(EVENT_TYPES), validators=[], **kwargs)

    def to_internal_value(self, data):
        return _validate_events(super().to_internal_value(data))


_URL_HELP = "https (http only where allowed); must not resolve to a loopback, private or link-local address"


class _EndpointApiView(ApiView):
    def endpoint(self, request, endpoint_id):
        endpoint = selectors.endpoint_for_host(
            host=request.user, livemode=request.auth.livemode, endpoint_id=endpoint_id
        )
        if endpoint is None:
            raise NotFound()
        return endpoint


class EventListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=EVENT_TYPES, required=False)

    @extend_schema(
        operation_id="events_list",
        summary="List your events of the last 30 days, newest first",
        description=(
            "What webhooks delivered or tried to, in the key's mode: a receiver that was down catches "
            f"up here. Filter by `type`.\n\n{PAGINATION_DESCRIPTION}"
        ),
        parameters=[FilterSerializer, *page_parameters()],
        responses={200: page_of("EventPage", EventOutputSerializer), **error_responses(400, 401, 429)},
    )
    def get(self, request):
        paginator = KeysetPagination("created_at", filters=self.FilterSerializer)
        filters = paginator.parse_query(request)
        queryset = selectors.events_for_host(host=request.user, livemode=request.auth.livemode, **filters)
        rows = paginator.paginate(queryset, request)
        return paginator.response(EventOutputSerializer(rows, many=True).data)


class EndpointListApi(_EndpointApiView):
    carries_secrets = True

    class InputSerializer(ClosedSerializer):
        url = serializers.URLField(max_length=2000, help_text=_URL_HELP)
        events = _EventsField()
        description = StrictCharField(max_length=200, required=False, validators=[no_control_characters])

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List your webhook endpoints",
        description=f"Every endpoint in the key's mode, disabled ones too, newest first.\n\n{PAGINATION_DESCRIPTION}",
        parameters=page_parameters(),
        responses={200: page_of("WebhookEndpointPage", EndpointOutputSerializer), **error_responses(400, 401, 429)},
    )
    def get(self, request):
        paginator = KeysetPagination("created_at")
        paginator.parse_query(request)
        rows = paginator.paginate(
            selectors.endpoints_for_host(host=request.user, livemode=request.auth.livemode), request
        )
        return paginator.response(EndpointOutputSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Add a webhook endpoint",
        description=(
            'Events of the listed types (or all, with `["*"]`) are POSTed to `url`, signed with the '
            "`secret` in the answer: keep it, it is shown only this once. The endpoint takes the key's "
            "mode: a test key's endpoint gets test-mode events only. At most 10 enabled endpoints "
            "(409 `webhook_endpoint_limit`)."
        ),
        request=InputSerializer,
        responses={201: EndpointWithSecretSerializer, **error_responses(400, 401, 409, 413, 415, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            host=request.user,
            livemode=request.auth.livemode,
            actor=Actor.host_key(request.auth.key_id),
            **serializer.validated_data,
        )
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailApi(_EndpointApiView):
    class UpdateSerializer(ClosedSerializer):
        unknown_field_message = "This field cannot be changed."

        url = serializers.URLField(max_length=2000, required=False, help_text=_URL_HELP)
        events = _EventsField(required=False)
        description = StrictCharField(
            max_length=200, required=False, allow_blank=True, validators=[no_control_characters]
        )
        enabled = serializers.BooleanField(required=False)

        def validate(self, attrs):
            if not attrs:
                raise ValidationError({"non_field_errors": ["Send url, events, description and/or enabled."]})
            return attrs

    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        summary="Get one webhook endpoint",
        description="Its secret is never shown again; rotate it to get a new one.",
        responses={200: EndpointOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request, endpoint_id):
        return Response(EndpointOutputSerializer(self.endpoint(request, endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change a webhook endpoint",
        description="Send any of `url`, `events`, `description`, `enabled`.",
        request=UpdateSerializer,
        responses={200: EndpointOutputSerializer, **error_responses(400, 401, 404, 409, 413, 415, 429)},
    )
    def patch(self, request, endpoint_id):
        endpoint = self.endpoint(request, endpoint_id)
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            endpoint=endpoint, actor=Actor.host_key(request.auth.key_id), **serializer.validated_data
        )
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_disable",
        summary="Disable a webhook endpoint",
        description="Nothing more is sent to it; its deliveries stay listed. `PATCH` `enabled: true` turns it back on.",
        responses={204: OpenApiResponse(description="Disabled"), **error_responses(401, 404, 429)},
    )
    def delete(self, request, endpoint_id):
        services.endpoint_disable(
            endpoint=self.endpoint(request, endpoint_id), actor=Actor.host_key(request.auth.key_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(_EndpointApiView):
    carries_secrets = True

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Rotate a webhook endpoint's secret",
        description=(
            "Answers the new secret, shown this once. For 24 hours every delivery carries two `v1` "
            "signatures, by the new and the old secret, so receivers can switch without losing one."
        ),
        request=None,
        responses={200: EndpointWithSecretSerializer, **error_responses(401, 404, 429)},
    )
    def post(self, request, endpoint_id):
        endpoint = services.endpoint_rotate_secret(
            endpoint=self.endpoint(request, endpoint_id), actor=Actor.host_key(request.auth.key_id)
        )
        return Response(EndpointWithSecretSerializer(endpoint).data)


class EndpointPingApi(_EndpointApiView):
    @extend_schema(
        operation_id="webhook_endpoints_ping",
        summary="Send a ping event to a webhook endpoint",
        description="A `ping` event goes to this endpoint now; its delivery is in the answer and in the deliveries list.",
        request=None,
        responses={202: DeliveryOutputSerializer, **error_responses(401, 404, 429)},
    )
    def post(self, request, endpoint_id):
        delivery = services.endpoint_ping(endpoint=self.endpoint(request, endpoint_id))
        return Response(DeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(_EndpointApiView):
    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=DeliveryState.choices, required=False)

    @extend_schema(
        operation_id="webhook_deliveries_list",
        summary="List a webhook endpoint's deliveries, newest first",
        description=f"Each event sent or to be sent to this endpoint, with its attempts.\n\n{PAGINATION_DESCRIPTION}",
        parameters=[
            FilterSerializer,
            OpenApiParameter("state", {"type": "string", "enum": DeliveryState.values}),
            *page_parameters(),
        ],
        responses={
            200: page_of("WebhookDeliveryPage", DeliveryOutputSerializer),
            **error_responses(400, 401, 404, 429),
        },
    )
    def get(self, request, endpoint_id):
        endpoint = self.endpoint(request, endpoint_id)
        paginator = KeysetPagination("created_at", filters=self.FilterSerializer)
        filters = paginator.parse_query(request)
        queryset = selectors.deliveries_for_endpoint(endpoint=endpoint)
        if "state" in filters:
            queryset = queryset.filter(state=filters["state"])
        rows = paginator.paginate(queryset, request)
        return paginator.response(DeliveryOutputSerializer(rows, many=True).data)


class DeliveryRetryApi(_EndpointApiView):
    @extend_schema(
        operation_id="webhook_deliveries_retry",
        summary="Send a delivery again now",
        description="Whatever its state: a failed one is tried again, a delivered one sent again (same event id).",
        request=None,
        responses={202: DeliveryOutputSerializer, **error_responses(401, 404, 429)},
    )
    def post(self, request, endpoint_id, delivery_id):
        endpoint = self.endpoint(request, endpoint_id)
        delivery = selectors.delivery_for_endpoint(endpoint=endpoint, delivery_id=delivery_id)
        if delivery is None:
            raise NotFound()
        delivery = services.delivery_retry(delivery=delivery, actor=Actor.host_key(request.auth.key_id))
        return Response(DeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
