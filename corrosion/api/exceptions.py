"""DRF's exception handler, rewritten to the contract's error body.

Every error a DRF view can raise ends here, so one place decides each status, code and message:
DRF's own exceptions (authentication, parsing, validation, throttling...), the domain's
DomainError, and a database that does not answer.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from corrosion.api.errors import DATABASE_RETRY_AFTER_SECONDS, error_body
from corrosion.errors import DomainError, ErrorCode

logger = logging.getLogger(__name__)

UNAUTHORIZED_MESSAGE = "Missing or invalid API key."


class RequestTooLarge(exceptions.APIException):
    """A body over MAX_REQUEST_BYTES found while reading it (a chunked upload has no Content-Length)."""

    status_code = ErrorCode.REQUEST_TOO_LARGE.status
    default_code = ErrorCode.REQUEST_TOO_LARGE
    default_detail = "The request body is too large."


# (code, message) for each DRF exception class; the message is ours so no detail leaks.
_CODES = [
    (exceptions.NotAuthenticated, ErrorCode.UNAUTHORIZED, UNAUTHORIZED_MESSAGE),
    (exceptions.AuthenticationFailed, ErrorCode.UNAUTHORIZED, UNAUTHORIZED_MESSAGE),
    (exceptions.PermissionDenied, ErrorCode.FORBIDDEN, None),
    (exceptions.NotFound, ErrorCode.NOT_FOUND, "Not found."),
    (exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED, None),
    (exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE, None),
    (
        exceptions.UnsupportedMediaType,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        "The request body must be JSON (application/json).",
    ),
    (exceptions.ParseError, ErrorCode.MALFORMED_JSON, None),
    (exceptions.Throttled, ErrorCode.RATE_LIMITED, "Too many requests; retry after the time in Retry-After."),
    (exceptions.ValidationError, ErrorCode.INVALID, "The request is invalid; see fields."),
    (RequestTooLarge, ErrorCode.REQUEST_TOO_LARGE, None),
]


def _fields(detail):
    """Flatten DRF's ErrorDetail structure into plain strings, keeping its shape."""
    if isinstance(detail, dict):
        return {str(key): _fields(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_fields(item) for item in detail]
    return str(detail)


def _domain_error(exc: DomainError) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return _domain_error(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or unreachable: a client should retry, not see a 500.
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return _domain_error(
            DomainError(
                ErrorCode.SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable; retry shortly.",
                retry_after=DATABASE_RETRY_AFTER_SECONDS,
            )
        )
    elif isinstance(exc, DatabaseError):
        return None  # a real bug: let Django's JSON 500 handler answer and log it

    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))

    code, message, fields = ErrorCode.for_status(exc.status_code), None, None
    for exc_class, mapped_code, mapped_message in _CODES:
        if isinstance(exc, exc_class):
            code, message = mapped_code, mapped_message
            break
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = _fields(detail if isinstance(detail, dict) else {"non_field_errors": detail})
    if message is None:
        message = str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail)

    return Response(error_body(code, message, fields), status=exc.status_code, headers=headers)
