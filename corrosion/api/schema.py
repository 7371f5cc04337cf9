"""OpenAPI pieces shared by every app's views: the error body and the bearer-key scheme."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from corrosion.api.pagination import DEFAULT_PAGE_SIZE, MAX_CURSOR_LENGTH, MAX_PAGE_SIZE

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
    406: "The `Accept` header or `?format=` asks for a representation this operation does not have.",
    409: "Conflicts with the current state.",
    413: "Body over MAX_REQUEST_BYTES.",
    414: "The request line (path and query string) is over 4094 bytes; refused before it is read.",
    415: "Body is not `application/json`.",
    429: "Rate limit exceeded; see `Retry-After`.",
    431: "A header line is over 8190 bytes, or there are over 100 headers; refused before they are read.",
    503: "The database is unreachable; retry after `Retry-After` seconds.",
}


def page_parameters():
    """The two query parameters of every keyset-paginated list, with the limits the paginator enforces."""
    return [
        OpenApiParameter(
            "page_size",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            description=f"1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}",
        ),
        OpenApiParameter(
            "cursor",
            {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LENGTH},
            description="from a previous page's `next` or `previous` link",
        ),
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

    Any endpoint may answer 503 while the database is down, and 414 or 431 from the app server's
    limits (gunicorn.conf.py); any body-carrying one 413 and 415; every host endpoint (a DRF view,
    so it negotiates its representation) 406; 401, 429 and 503 carry their headers.
    """
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            for status in (414, 431, 503):
                responses.setdefault(str(status), _error_response(status))
            if path.startswith("/api/host/"):
                responses.setdefault("406", _error_response(406))
            if method in ("post", "patch", "put"):
                responses.setdefault("413", _error_response(413))
                responses.setdefault("415", _error_response(415))
            for status, headers in _HEADERS.items():
                if status in responses:
                    responses[status].setdefault("headers", {}).update(headers)
    return result


def require_request_bodies(result, generator, request, public):
    """Every operation that takes a body needs one: an empty body is 400 on each of them.

    drf-spectacular marks a body required only when it comes from a serializer with required
    fields; ours are mostly written out by hand (one object or an array, a PATCH of at least one field).
    """
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result
