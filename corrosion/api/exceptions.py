"""DRF's exception handler, rewritten to the contract's error body.

Every error a view can raise ends here, so one place decides each status, code and message.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from corrosion.api.errors import DATABASE_RETRY_AFTER_SECONDS, error_body

logger = logging.getLogger(__name__)

UNAUTHORIZED_MESSAGE = "Missing or invalid API key."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."

    def __init__(self, detail=None, code=None, fields=None):
        super().__init__(detail, code)
        self.fields = fields


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "The service is temporarily unavailable; retry shortly."

    def __init__(self, detail=None, code=None, wait=1):
        super().__init__(detail, code)
        self.wait = wait


# (code, message) for each DRF exception class; the message is ours so no detail leaks.
_CODES = [
    (exceptions.NotAuthenticated, "unauthorized", UNAUTHORIZED_MESSAGE),
    (exceptions.AuthenticationFailed, "unauthorized", UNAUTHORIZED_MESSAGE),
    (exceptions.PermissionDenied, "forbidden", None),
    (exceptions.NotFound, "not_found", "Not found."),
    (exceptions.MethodNotAllowed, "method_not_allowed", None),
    (exceptions.NotAcceptable, "not_acceptable", None),
    (exceptions.UnsupportedMediaType, "unsupported_media_type", "The request body must be JSON (application/json)."),
    (exceptions.ParseError, "malformed_json", None),
    (exceptions.Throttled, "rate_limited", "Too many requests; retry after the time in Retry-After."),
    (exceptions.ValidationError, "invalid", "The request is invalid; see fields."),
]


def _fields(detail):
    """Flatten DRF's ErrorDetail structure into plain strings, keeping its shape."""
    if isinstance(detail, dict):
        return {str(key): _fields(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_fields(item) for item in detail]
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or unreachable: a client should retry, not see a 500.
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        exc = ServiceUnavailable(wait=DATABASE_RETRY_AFTER_SECONDS)
    elif isinstance(exc, DatabaseError):
        return None  # a real bug: let Django's JSON 500 handler answer and log it

    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))

    code, message, fields = exc.default_code, None, None
    for exc_class, mapped_code, mapped_message in _CODES:
        if isinstance(exc, exc_class):
            code, message = mapped_code, mapped_message
            break
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = _fields(detail if isinstance(detail, dict) else {"non_field_errors": detail})
    elif isinstance(exc, Conflict):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else code
        fields = exc.fields
    if message is None:
        message = str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail)

    return Response(error_body(code, message, fields), status=exc.status_code, headers=headers)
