"""The one error vocabulary: every machine-readable code the product answers, and the one error
services raise.

A service raises `DomainError(ErrorCode.X, message, fields=...)` and knows nothing of how it is
shown: the API's exception handler turns it into the contract's JSON body, the admin into a
message (corrosion.admin), a command into a one-line CommandError (corrosion.commands).
"""

from enum import StrEnum
from http import HTTPStatus


class ErrorCode(StrEnum):
    """Every `error.code` a client can read, with the HTTP status it is answered with."""

    def __new__(cls, value, status):
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = HTTPStatus(status)
        return member

    # Generic, by HTTP status: what the app server, Django and DRF refuse themselves.
    BAD_REQUEST = "bad_request", 400
    INVALID = "invalid", 400
    MALFORMED_JSON = "malformed_json", 400
    UNAUTHORIZED = "unauthorized", 401
    FORBIDDEN = "forbidden", 403
    CSRF_FAILED = "csrf_failed", 403
    NOT_FOUND = "not_found", 404
    METHOD_NOT_ALLOWED = "method_not_allowed", 405
    NOT_ACCEPTABLE = "not_acceptable", 406
    CONFLICT = "conflict", 409
    REQUEST_TOO_LARGE = "request_too_large", 413
    URI_TOO_LONG = "uri_too_long", 414
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415
    HEADERS_TOO_LARGE = "headers_too_large", 431
    RATE_LIMITED = "rate_limited", 429
    SERVER_ERROR = "server_error", 500
    SERVICE_UNAVAILABLE = "service_unavailable", 503
    DATABASE_UNAVAILABLE = "database_unavailable", 503

    # The domain's own.
    LICENSE_NOT_FOUND = "license_not_found", 404
    SERVER_ID_CONFLICT = "server_id_conflict", 409
    INVALID_TRANSITION = "invalid_transition", 409
    LICENSE_TERMINATED = "license_terminated", 409
    HOST_EMAIL_TAKEN = "host_email_taken", 409
    API_KEY_NOT_FOUND = "api_key_not_found", 404
    MONTH_NOT_CLOSABLE = "month_not_closable", 409
    BILL_NOT_FOUND = "bill_not_found", 404
    SUSPENDED_BY_STAFF = "suspended_by_staff", 409
    PARTNER_EMAIL_TAKEN = "partner_email_taken", 409
    INVITATION_INVALID = "invitation_invalid", 404
    MEMBERSHIP_NOT_FOUND = "membership_not_found", 404
    LAST_OWNER = "last_owner", 409
    HOST_INACTIVE = "host_inactive", 403
    INVOICE_NOT_FOUND = "invoice_not_found", 404
    INVOICE_NOT_OPEN = "invoice_not_open", 409
    MONTH_NOT_CLOSED = "month_not_closed", 409
    WEBHOOK_ENDPOINT_LIMIT = "webhook_endpoint_limit", 409
    WEBHOOK_ENDPOINT_NOT_FOUND = "webhook_endpoint_not_found", 404

    @classmethod
    def for_status(cls, status):
        """The generic code of an HTTP status (the first member declared with it)."""
        for member in cls:
            if member.status == status:
                return member
        return cls.SERVER_ERROR if status >= 500 else cls.BAD_REQUEST


class DomainError(Exception):
    """A change or read the rules refuse: a code, a message for humans, and optionally the fields at fault.

    `fields` has the contract's shape: {field: [messages]} for one object, {index: {...}} for a bulk
    call. `retry_after` (seconds) is set when trying again later can succeed.
    """

    def __init__(self, code: ErrorCode, message: str, *, fields=None, retry_after: int | None = None):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.fields = fields
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return int(self.code.status)

    def field_messages(self) -> dict[str, list[str]]:
        """{field: [messages]} for a form; the message under `__all__` when no field is named."""
        if not self.fields:
            return {"__all__": [self.message]}
        return {name: list(value) if isinstance(value, list) else [str(value)] for name, value in self.fields.items()}
