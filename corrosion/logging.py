"""Structured logs: one JSON object per line on stdout, each with the request id, secrets redacted.

Every line the process writes goes through `RedactingJsonFormatter`: the app's, Django's,
Python's warnings (captured by `configure`) and gunicorn's own error and access lines
(`use_json_format`, called by gunicorn.conf.py).
"""

import contextvars
import datetime
import logging
import logging.config
import re
import sys
import time
import uuid

from django.http import HttpRequest
from django.utils.module_loading import import_string
from pythonjsonlogger.json import JsonFormatter

request_id_var = contextvars.ContextVar("request_id", default="-")

_REDACTED = "[REDACTED]"

# Secrets that must never reach a log line, whatever logs them (an exception message quoting a
# SQL parameter, gunicorn quoting a request line it could not parse, a third-party library): host
# API keys, license keys, companion tokens, Authorization and session values. Case is ignored, as
# gunicorn upper-cases the header names it quotes.

# API keys, live and test: the key id is not secret and names the key, so it is kept.
_API_KEY = re.compile(r"(?i)\b(crn_(?:test_)?[a-z0-9]{8}_)[a-z0-9]+")
# License keys, live and test, with or without the separators between their groups.
_LICENSE_KEY = re.compile(r"(?i)\bcrn[-_]?(?:test[-_]?)?[0-9a-z]{5}(?:[-_]?[0-9a-z]{5}){2,}[0-9a-z]*")
# A license key without its prefix: four or more dash-separated groups of five.
_GROUPS = re.compile(r"\b[0-9A-Za-z]{5}(?:-[0-9A-Za-z]{5}){3,}\b")
# The value of an Authorization header, whatever its scheme, and a bearer token anywhere.
_AUTHORIZATION = re.compile(
    r"(?i)\b((?:proxy-)?authorization)\b([\s\"':=]+)(?:(?:bearer|basic|token|digest)\s+)?[^\s\"',;&}\\]+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;&}\\]+")
# A value named like a secret: `license_key=...`, `companion_token: ...`, a session cookie.
_NAMED = re.compile(
    r"(?i)(?=[sctpal])(sessionid|csrftoken|password|passwd|secret|token|api[_-]?key|license[_-]?key)"
    r"(\s*[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}\\]+"
)
# Query string values: filters carry customer e-mails, and no value in a URL is needed in a log.
_QUERY_VALUE = re.compile(r"(?<=\S)([?&][^\s=&#?\"'<>]{1,100}=)[^\s&#\"'<>\\]+")
# Long runs of token characters, as companion tokens, digests and secrets have no prefix.
_LONG_RUN = re.compile(r"[A-Za-z0-9_-]{40,}")

# A secret may also travel encoded: %-escapes (`CRN%2DXXXXX`, `crn%5f...`, `%252D` encoded twice),
# Python and JSON escapes (`\x2d`, `\u002d`, as a repr() or a quoted body shows them) and HTML
# entities. A word holding any of these is decoded and, if a secret is inside, cut whole.
_ESCAPE = re.compile(
    r"%(?:25)*[0-9A-Fa-f]{2}|\\+x[0-9A-Fa-f]{2}|\\+u[0-9A-Fa-f]{4}|&#(?:[xX][0-9A-Fa-f]{1,6}|[0-9]{1,7});"
)
_ENCODED_WORD = re.compile(rf"(?:[A-Za-z0-9_.~+-]+|{_ESCAPE.pattern})+")
# Base64 (a Basic credential, an encoded key): long runs mixing cases, digits and + or /.
_BASE64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
_LOWER, _UPPER, _DIGIT = re.compile("[a-z]"), re.compile("[A-Z]"), re.compile("[0-9]")


def _unescape(match):
    token = match.group(0)
    if token[0] == "%":
        code = int(token[-2:], 16)
    elif token[0] == "&":
        code = int(token[3:-1], 16) if token[2] in "xX" else int(token[2:-1])
    else:
        code = int(token.lstrip("\\")[1:], 16)
    return chr(code) if code <= sys.maxunicode else "\ufffd"


def _redact_plain(text):
    # Each rule runs only when the text holds its tell-tale: most values (a path, a message) hold
    # none, and the formatter runs on every request line.
    lower = text.lower()
    if "crn" in lower:
        text = _API_KEY.sub(rf"\1{_REDACTED}", text)
        text = _LICENSE_KEY.sub(f"CRN-{_REDACTED}", text)
    if lower.count("-") >= 3:
        text = _GROUPS.sub(_REDACTED, text)
    if "authorization" in lower:
        text = _AUTHORIZATION.sub(rf"\1\2{_REDACTED}", text)
    if "bearer" in lower:
        text = _BEARER.sub(rf"\1{_REDACTED}", text)
    if "key" in lower or "token" in lower or "sessionid" in lower or "secret" in lower or "passw" in lower:
        text = _NAMED.sub(rf"\1\2{_REDACTED}", text)
    if "?" in text or "&" in text:
        text = _QUERY_VALUE.sub(rf"\1{_REDACTED}", text)
    return _LONG_RUN.sub(_REDACTED, text)


def _redact_encoded_word(match):
    word = match.group(0)
    if "%" not in word and "\\" not in word and "&" not in word:
        return word
    decoded = word
    for _ in range(3):  # %25-chains are decoded in one step; an escape of an escape takes another
        decoded = _ESCAPE.sub(_unescape, decoded)
        if not _ESCAPE.search(decoded):
            break
    if decoded == word or _redact_plain(decoded) == decoded:
        return word
    return _REDACTED


def _redact_base64(match):
    run = match.group(0)
    # A path (/api/host/licenses/2b0c6c0e...) is a long run too, but never mixes all three.
    if ("+" in run or "/" in run) and _LOWER.search(run) and _UPPER.search(run) and _DIGIT.search(run):
        return _REDACTED
    return run


def redact(text):
    """The text with every secret cut out, however it is encoded."""
    if len(text) < 40 and text.isalnum() and text[:3].lower() != "crn":
        return text  # "GET", "request", a key id, a request id: most fields are like this
    if ("%" in text or "\\" in text or "&#" in text) and _ESCAPE.search(text):
        text = _ENCODED_WORD.sub(_redact_encoded_word, text)
    if ("+" in text or "/" in text) and not text.islower():  # base64 mixes cases; paths do not
        text = _BASE64.sub(_redact_base64, text)
    return _redact_plain(text)


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every record.

    Django logs each 4xx and 5xx itself (`django.request`) once the middleware chain has returned,
    after the request id's context is gone; that line carries the request, and its id with it.
    """

    def filter(self, record):
        request_id = request_id_var.get()
        if request_id == "-":
            request_id = getattr(getattr(record, "request", None), "request_id", None) or request_id
        record.request_id = request_id
        return True


# Fields the formatter itself writes: never a secret, so never scanned.
_OWN_FIELDS = frozenset({"time", "level", "logger"})


def _clean(value):
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, HttpRequest):
        # Django passes the request along with its 4xx lines; its repr holds the query string.
        return redact(f"{value.method} {value.path}")
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return redact(str(value))


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line, every value scrubbed before it is encoded: message, traceback and
    extra fields alike. (Scrubbing values rather than the encoded line keeps each line valid JSON
    whatever is cut.)"""

    def process_log_record(self, log_data):
        return {key: value if key in _OWN_FIELDS else _clean(value) for key, value in log_data.items()}


def configure(logging_settings):
    """settings.LOGGING_CONFIG: the dictConfig Django would run, plus Python's warnings, which
    otherwise go to stderr as plain text, through the same formatter."""
    logging.captureWarnings(True)
    logging.config.dictConfig(logging_settings)


def use_json_format(*loggers):
    """Give these loggers' handlers (gunicorn's error and access logs) the app's formatter, filter and stream."""
    from django.conf import settings

    config = dict(settings.LOGGING["formatters"]["json"])
    formatter = import_string(config.pop("()"))(**config)
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(formatter)
            if not any(isinstance(existing, RequestIdFilter) for existing in handler.filters):
                handler.addFilter(RequestIdFilter())
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setStream(sys.stdout)  # one stream of JSON lines, the app's and the server's


REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
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
        request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # for the lines logged after this middleware returns
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
