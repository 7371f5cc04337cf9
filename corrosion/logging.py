"""Structured logs: one JSON object per line on stdout, each with the request id, secrets redacted."""

import contextvars
import logging
import re
import time
import uuid

from pythonjsonlogger.json import JsonFormatter

request_id_var = contextvars.ContextVar("request_id", default="-")

# Secrets that must never reach a log line, whatever logs them (an exception message quoting a
# SQL parameter, a third-party library): host API keys, license keys, companion tokens and
# Authorization headers. Long runs of token characters are cut too, as companion tokens have no prefix.
_SECRETS = [
    (re.compile(r"crn_[a-z0-9]{8}_[A-Za-z0-9]+"), lambda m: m.group(0)[:13] + "[REDACTED]"),
    (re.compile(r"CRN(-[0-9A-Z]{5}){2,}"), lambda m: "CRN-[REDACTED]"),
    (re.compile(r"(?i)(authorization|bearer)([\"':= ]+)[^\s\"',;}]+"), lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]"),
    (re.compile(r"[A-Za-z0-9_-]{40,}"), lambda m: "[REDACTED]"),
]


def redact(text):
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every record."""

    def filter(self, record):
        record.request_id = request_id_var.get()
        return True


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line, scrubbed as a whole: message, traceback and extra fields alike."""

    def format(self, record):
        return redact(super().format(record))


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
request_logger = logging.getLogger("corrosion.request")


class RequestLogMiddleware:
    """Give each request an id (the proxy's X-Request-ID when sane) and log one line when it ends.

    The line holds method, path, status, duration and the host's key id, never a header, a query
    value or a body: keys travel in headers and bodies only.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            request_logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "key_id": getattr(getattr(request, "auth", None), "key_id", None),
                },
            )
            return response
        finally:
            request_id_var.reset(token)
