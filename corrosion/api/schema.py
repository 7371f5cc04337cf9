"""OpenAPI pieces shared by every app's views: the error body and the bearer-key scheme."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(help_text="machine-readable, e.g. `invalid`, `server_id_conflict`"),
                "message": serializers.CharField(help_text="for humans"),
                "fields": serializers.DictField(
                    required=False,
                    help_text="validation errors by field; for bulk calls by item index, then field",
                ),
            },
        )
    },
)

_DESCRIPTIONS = {
    400: "Invalid input: malformed JSON, or fields named in `error.fields`.",
    401: "Missing, unknown or revoked API key, or an inactive host (`WWW-Authenticate: Bearer`).",
    404: "No such object for this host.",
    409: "Conflicts with the current state.",
    413: "Body over MAX_REQUEST_BYTES.",
    415: "Body is not `application/json`.",
    429: "Rate limit exceeded; see `Retry-After`.",
    503: "The database is unreachable; retry after `Retry-After` seconds.",
}


PAGE_PARAMETERS = [
    OpenApiParameter("page_size", int, description="1 to 500, default 50"),
    OpenApiParameter("cursor", str, description="from a previous page's `next` or `previous` link"),
]


def page_of(name, item_serializer):
    """A cursor page of items, as KeysetPagination answers it."""
    return inline_serializer(
        name,
        {
            "results": item_serializer(many=True),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
        },
    )


def error_responses(*statuses):
    """The error statuses an operation can answer, each with the shared error body."""
    return {status: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status]) for status in statuses}


_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}, "description": "always `Bearer`"}},
    "429": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    "503": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
}


def _error_response(status):
    return {"description": _DESCRIPTIONS[status], "content": {"application/json": {"schema": _ERROR_REF}}}


def add_shared_errors(result, generator, request, public):
    """What every operation can answer because of shared middleware, documented once, here.

    Any endpoint may answer 503 while the database is down; any body-carrying one 413 and 415;
    401, 429 and 503 carry their headers.
    """
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            responses.setdefault("503", _error_response(503))
            if method in ("post", "patch", "put"):
                responses.setdefault("413", _error_response(413))
                responses.setdefault("415", _error_response(415))
            for status, headers in _HEADERS.items():
                if status in responses:
                    responses[status].setdefault("headers", {}).update(headers)
    return result
