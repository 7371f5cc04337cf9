"""The one error body every endpoint answers with (SPEC: HTTP API)."""

from django.http import JsonResponse


def error_body(code, message, fields=None):
    error = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def error_response(status, code, message, fields=None, headers=None):
    return JsonResponse(error_body(code, message, fields), status=status, headers=headers)
