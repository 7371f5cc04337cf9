"""The plugin's heartbeat: `POST /api/plugin/heartbeat` with the license key in the body.

The busiest endpoint (one call a minute from every game server), so it is a plain Django view:
no DRF request wrapping, authentication, throttles or serializers, and one service call that
issues a single UPDATE ... RETURNING. It still answers the contract's JSON errors. Its OpenAPI
operation is written out in licensing/schema.py, from the limits below.
"""

import functools
import json
import logging
import math
import time
import uuid
from http import HTTPStatus

from django.conf import settings
from django.core import signals
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils.http import parse_header_parameters
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from corrosion.api.errors import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_MESSAGE, error_body
from corrosion.api.fields import CONTROL_CHARACTERS
from corrosion.api.parsers import MalformedJSON, loads_json
from corrosion.api.throttling import client_address, client_address_of, hit
from corrosion.errors import ErrorCode
from corrosion.logging import REQUEST_ID_PATTERN, request_id_var, request_logger
from corrosion.security import NOT_A_PAGE_POLICY
from licensing.keys import LICENSE_KEY_PATTERN
from licensing.limits import LICENSE_KEY_MAX_LENGTH, MAX_PLAYERS, PLUGIN_VERSION_MAX_LENGTH
from licensing.models import LicenseStatus
from licensing.services import HeartbeatResult, heartbeat_record

# Addresses this process has seen go over the unknown-key limit, until their window ends. The
# shared counter decides; this local copy lets every later unknown key from such an address be
# refused with no cache round trip. Known keys from the address are answered as usual.
_blocked_until: dict[str, float] = {}
_BLOCKED_MAX = 10_000

logger = logging.getLogger("corrosion.api.middleware")  # the full stack's 503 line, under the same name


def _blocked_for(address):
    until = _blocked_until.get(address)
    if until is None:
        return None
    remaining = until - time.monotonic()
    if remaining <= 0:
        _blocked_until.pop(address, None)
        return None
    return math.ceil(remaining)


def _block(address, seconds):
    if len(_blocked_until) >= _BLOCKED_MAX:
        _blocked_until.clear()  # a flood from many addresses: start over rather than grow
    _blocked_until[address] = time.monotonic() + seconds


def _error(code, message, *, fields=None, headers=None):
    return code.status, error_body(code, message, fields), headers


def _guessing(retry_after):
    return _error(
        ErrorCode.RATE_LIMITED,
        "Too many unknown license keys from this address.",
        headers={"Retry-After": str(retry_after)},
    )


def _parse_heartbeat(body):
    if not isinstance(body, dict):
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors = {}
    license_key = body.get("license_key")
    version = body.get("version")
    players = body.get("players")
    if not isinstance(license_key, str) or not license_key:
        errors["license_key"] = ["This field is required and must be a string."]
    elif len(license_key) > LICENSE_KEY_MAX_LENGTH:
        errors["license_key"] = [f"Ensure this field has no more than {LICENSE_KEY_MAX_LENGTH} characters."]
    if version is not None and (
        not isinstance(version, str) or len(version) > PLUGIN_VERSION_MAX_LENGTH or CONTROL_CHARACTERS.search(version)
    ):
        errors["version"] = [f"Must be a string of at most {PLUGIN_VERSION_MAX_LENGTH} printable characters."]
    if players is not None and (
        isinstance(players, bool) or not isinstance(players, int) or not 0 <= players <= MAX_PLAYERS
    ):
        errors["players"] = [f"Must be a whole number from 0 to {MAX_PLAYERS}."]
    return (license_key, version, players), errors


def _answer(content_type, read_body, address):
    """The heartbeat's answer, for the Django view and the WSGI route alike: (status, body, headers).

    `read_body` gives the request body; `address` gives the client's address, asked only when an
    unknown key has to be counted.
    """
    if content_type != "application/json":
        return _error(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "The request body must be JSON (application/json).")
    try:
        body = loads_json(read_body())
    except MalformedJSON:
        return _error(ErrorCode.MALFORMED_JSON, "The request body is not valid JSON.")
    parsed, errors = _parse_heartbeat(body)
    if errors:
        return _error(ErrorCode.INVALID, "The request is invalid; see fields.", fields=errors)
    license_key, version, players = parsed
    # The key is looked up before any block is consulted: a shared address (a NAT, a proxy) that
    # sends unknown keys must never take the real servers behind it offline. A malformed key cannot
    # exist: it is answered as unknown without asking the database.
    result = (
        heartbeat_record(license_key=license_key, version=version, players=players)
        if LICENSE_KEY_PATTERN.match(license_key)
        else HeartbeatResult(known=False)
    )
    if not result.known:
        address = address()
        blocked = _blocked_for(address)
        if blocked is not None:
            return _guessing(blocked)  # no cache round trip for a known guesser
        # Only unknown keys are counted in the shared cache, so real servers pay nothing for it.
        allowed, retry_after = hit("heartbeat-unknown", address, settings.HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT)
        if not allowed:
            _block(address, retry_after)
            return _guessing(retry_after)
        return _error(ErrorCode.LICENSE_NOT_FOUND, "No license has this key.")
    if result.retry_after is not None:
        return _error(
            ErrorCode.RATE_LIMITED,
            "Heartbeat sent too soon after the last one.",
            headers={"Retry-After": str(result.retry_after)},
        )
    return (
        200,
        {"status": result.status, "valid": result.status == LicenseStatus.ACTIVE, "livemode": result.livemode},
        None,
    )


@csrf_exempt
@require_POST
def heartbeat(request):
    status, body, headers = _answer(request.content_type, lambda: request.body, lambda: client_address(request))
    return JsonResponse(body, status=status, headers=headers)


# The WSGI route (corrosion/wsgi.py, settings.WSGI_ROUTES): the same answers as the view above
# without Django's request and middleware stack, which cost 3-4 times the heartbeat's own work
# (sessions, auth, messages, CSRF, axes, whitenoise, CORS, URL resolution: BENCHMARKS.md). What of
# that stack a heartbeat needs is done here the same way: the request id and the redacted request
# log line, the 413 and 415, the security headers, the 503 of a lost database, and Django's
# request_started / request_finished signals (connection reuse, CONN_MAX_AGE, health checks).
# Any request out of the ordinary (another method, a body length Django must judge, a browser's
# Origin, plain http where https is required) goes to Django's full stack, which answers it as
# before. tests/licensing/test_heartbeat_route.py holds the two to the same answers and headers.


def _security_headers(secure):
    """The headers the full stack's middleware adds to a heartbeat's JSON answer (SecurityMiddleware,
    corrosion.security, XFrameOptionsMiddleware, corsheaders' Vary)."""
    headers = [("X-Frame-Options", settings.X_FRAME_OPTIONS), ("Vary", "origin")]
    headers.append(("Content-Security-Policy", NOT_A_PAGE_POLICY))
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers


@functools.cache
def _static_headers(secure):
    return _security_headers(secure)


setting_changed.connect(lambda **kwargs: _static_headers.cache_clear(), weak=False)  # tests change settings


def _is_secure(environ):
    """HttpRequest.is_secure() on the raw environ (SECURE_PROXY_SSL_HEADER, else the scheme)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


def _request_id(environ):
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex


def heartbeat_wsgi(environ, start_response, django):
    """POST /api/plugin/heartbeat in front of Django's handler; `django` answers everything else."""
    length = environ.get("CONTENT_LENGTH", "")
    secure = _is_secure(environ)
    if (
        environ["REQUEST_METHOD"] != "POST"
        or not length.isdigit()  # no length, or one Django refuses (400) or judges
        or int(length) > settings.MAX_REQUEST_BYTES  # Django's 413, unread, as before
        or "HTTP_ORIGIN" in environ  # a browser: CORS is corsheaders' to answer
        or (settings.SECURE_SSL_REDIRECT and not secure)
    ):
        return django(environ, start_response)
    request_id = _request_id(environ)
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    signals.request_started.send(sender=heartbeat_wsgi, environ=environ)
    try:
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type != "application/json":
            content_type = parse_header_parameters(content_type)[0]
        try:
            status, body, headers = _answer(
                content_type,
                lambda: environ["wsgi.input"].read(int(length)),
                lambda: client_address_of(environ),
            )
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable: %s", exc.__class__.__name__)
            status, body, headers = _error(
                ErrorCode.SERVICE_UNAVAILABLE,
                DATABASE_UNAVAILABLE_MESSAGE,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
        except Exception:  # what Django's handler500 answers, logged as django.request logs it
            logging.getLogger("django.request").exception("Internal Server Error: %s", environ.get("PATH_INFO"))
            status, body, headers = _error(ErrorCode.SERVER_ERROR, "An unexpected error happened; it has been logged.")
        content = json.dumps(body).encode()
        response_headers = [("Content-Type", "application/json"), ("Content-Length", str(len(content)))]
        if headers:
            response_headers += headers.items()
        response_headers += _static_headers(secure)
        response_headers.append(("X-Request-ID", request_id))
        request_logger.info(
            "request",
            extra={
                "method": "POST",
                "path": environ.get("PATH_INFO"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "key_id": None,
            },
        )
        start_response(f"{status} {HTTPStatus(status).phrase}", response_headers)
        return [content]
    finally:
        signals.request_finished.send(sender=heartbeat_wsgi)
        request_id_var.reset(token)
