"""The one error body every endpoint answers with (SPEC: HTTP API)."""

from django.http import JsonResponse

DATABASE_RETRY_AFTER_SECONDS = 5


def error_body(code, message, fields=None):
    error = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def error_response(status, code, message, fields=None, headers=None):
    return JsonResponse(error_body(code, message, fields), status=status, headers=headers)


def database_unavailable_response():
    """The database is down or unreachable: a client should retry, not see a 500."""
    return error_response(
        503,
        "service_unavailable",
        "The service is temporarily unavailable; retry shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )
