"""The one error body every endpoint answers with (SPEC: HTTP API)."""

from django.http import JsonResponse

from corrosion.errors import DomainError, ErrorCode

DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; retry shortly."


def error_body(code: ErrorCode, message: str, fields=None) -> dict:
    error = {"code": str(code), "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def error_response(code: ErrorCode, message: str, *, fields=None, status=None, headers=None) -> JsonResponse:
    """The contract's JSON error; the status is the code's own unless given (a generic code for a status)."""
    return JsonResponse(error_body(code, message, fields), status=status or code.status, headers=headers)


def domain_error_response(exc: DomainError) -> JsonResponse:
    """A DomainError raised outside DRF (the plugin's plain Django view) answered as DRF's handler would."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(exc.code, exc.message, fields=exc.fields, headers=headers)


def database_unavailable_response() -> JsonResponse:
    """The database is down or unreachable: a client should retry, not see a 500."""
    return error_response(
        ErrorCode.SERVICE_UNAVAILABLE,
        DATABASE_UNAVAILABLE_MESSAGE,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )
