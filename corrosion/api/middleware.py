"""Request limits and the JSON error guarantee, applied before and after every view."""

import logging
from http import HTTPStatus

from django.conf import settings
from django.db import InterfaceError, OperationalError

from corrosion.api.errors import database_unavailable_response, error_response
from corrosion.errors import ErrorCode

logger = logging.getLogger(__name__)


class RequestSizeLimitMiddleware:
    """Refuse a body over MAX_REQUEST_BYTES from its Content-Length, before reading any of it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return error_response(ErrorCode.BAD_REQUEST, "Content-Length is not a number.")
        if length < 0:
            return error_response(ErrorCode.BAD_REQUEST, "Content-Length is negative.")
        if length > settings.MAX_REQUEST_BYTES:
            return error_response(
                ErrorCode.REQUEST_TOO_LARGE, f"The request body is over {settings.MAX_REQUEST_BYTES} bytes."
            )
        return self.get_response(request)


class JsonErrorMiddleware:
    """Turn any error response that is not JSON (Django's 405, a bare 404...) into the contract's body.

    Views of our own already answer JSON; this catches what Django and third-party code answer
    themselves, so no client ever parses HTML. The admin and the partner portal keep their own pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or request.path.startswith(("/admin/", "/portal/")):
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith("application/json") or getattr(response, "streaming", False):
            return response
        status = response.status_code
        try:
            message = HTTPStatus(status).phrase + "."
        except ValueError:
            message = "Error."
        replacement = error_response(ErrorCode.for_status(status), message, status=status)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


class DatabaseUnavailableMiddleware:
    """A lost database is a 503 a client retries, on every view (DRF views get it from their handler).

    Raised outside a view (in a middleware), it reaches Django's 500 handler, which says 503 too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception.__class__.__name__)
            return database_unavailable_response()
        return None
