"""OpenAPI pieces shared by every app's views: the error body, pages, and hooks over the document.

Shapes that drf-spectacular cannot derive from a serializer are written out here as named
components (a generated client gets one type for each, by that name) and added to the document
by a postprocessing hook.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from corrosion.api.pagination import DEFAULT_PAGE_SIZE, MAX_CURSOR_LENGTH, MAX_PAGE_SIZE
from corrosion.errors import ErrorCode


def ref(name):
    """A reference to the component `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


_EXAMPLE_CODES = (
    ErrorCode.INVALID,
    ErrorCode.UNAUTHORIZED,
    ErrorCode.NOT_FOUND,
    ErrorCode.SERVER_ID_CONFLICT,
    ErrorCode.RATE_LIMITED,
)
_MESSAGES = {"type": "array", "items": {"type": "string"}, "description": "what is wrong, for humans"}

COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "Every error, on every endpoint, has this body.",
        "required": ["error"],
        "properties": {"error": ref("ErrorDetail")},
    },
    "ErrorDetail": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": (
                    "Machine-readable; branch on this, never on the message. E.g. "
                    f"{', '.join(f'`{code}`' for code in _EXAMPLE_CODES)}. New codes may be added."
                ),
            },
            "message": {"type": "string", "description": "for humans"},
            "fields": ref("ErrorFields"),
        },
    },
    "ErrorFields": {
        "type": "object",
        "description": (
            "Only on validation errors and bulk conflicts: what is wrong, by field or by item.\n\n"
            "- One object (or a query): field name → messages, e.g. "
            '`{"hostname": ["This field is required."]}`.\n'
            "- A bulk call's 400: item index → field name → messages, e.g. "
            '`{"2": {"customer_email": ["Enter a valid email address."]}}`.\n'
            "- A bulk call's 409: item index → `ItemConflict`, e.g. "
            '`{"1": {"code": "server_id_conflict", "message": "..."}}`.\n\n'
            "`non_field_errors` stands for the object (or the array) as a whole."
        ),
        # ItemConflict before FieldErrors: a generated client tries the variants in this order, and
        # only ItemConflict requires keys, so FieldErrors (any keys) would read a conflict too.
        "additionalProperties": {"oneOf": [_MESSAGES, ref("ItemConflict"), ref("FieldErrors")]},
    },
    "FieldErrors": {
        "type": "object",
        "description": "One item's invalid fields: field name → messages.",
        "additionalProperties": _MESSAGES,
    },
    "ItemConflict": {
        "type": "object",
        "description": "Why one item of a bulk call conflicts with what exists.",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "e.g. `server_id_conflict`"},
            "message": {"type": "string", "description": "for humans"},
        },
        "additionalProperties": False,
    },
}


def components_hook(components):
    """A postprocessing hook that adds `components` to the document's schemas (SPECTACULAR_SETTINGS)."""

    def add_components(result, generator, request, public):
        schemas = result.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in components.items():
            if name in schemas:
                raise ValueError(f"Two definitions of the OpenAPI component {name!r}.")
            schemas[name] = schema
        result["components"]["schemas"] = dict(sorted(schemas.items()))
        return result

    return add_components


add_components = components_hook(COMPONENTS)

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

PAGINATION_DESCRIPTION = (
    f"Pages hold `page_size` items (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE}). `next` and "
    "`previous` are the absolute URLs of the neighbouring pages, or null at either end. Follow a link "
    "as it is (it repeats your filters and `page_size`), or take its `cursor` query parameter and "
    "send it as `cursor` with the same filters and `page_size`."
)


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
            description=(
                "Where a page starts: the `cursor` query parameter of the previous page's `next` or "
                "`previous` URL (opaque; only cursors the API issued are valid). Omit it for the first page."
            ),
        ),
    ]


def page_of(name, item_serializer):
    """A cursor page of items, as KeysetPagination answers it."""
    link = "URL of the {} page, or null; its `cursor` query parameter is the `cursor` that pages there."
    return inline_serializer(
        name,
        {
            "results": item_serializer(many=True),
            "next": serializers.URLField(allow_null=True, help_text=link.format("next")),
            "previous": serializers.URLField(allow_null=True, help_text=link.format("previous")),
        },
    )


def error_responses(*statuses):
    """The error statuses an operation can answer, each with the shared error body.

    Keyed by media type too: without one, drf-spectacular documents an error under each of the
    view's renderers (a CSV error body), whereas every error is JSON.
    """
    return {
        (status, "application/json"): OpenApiResponse(ref("Error"), description=_DESCRIPTIONS[status])
        for status in statuses
    }


_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}, "description": "always `Bearer`"}},
    "429": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    "503": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
}


def _error_response(status):
    return {"description": _DESCRIPTIONS[status], "content": {"application/json": {"schema": ref("Error")}}}


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
