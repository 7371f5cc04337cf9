"""The plugin's heartbeat: `POST /api/plugin/heartbeat` with the license key in the body.

The busiest endpoint (one call a minute from every game server), so it is a plain Django view:
no DRF request wrapping, authentication, throttles or serializers, and one service call that
issues a single UPDATE ... RETURNING. It still answers the contract's JSON errors. Its OpenAPI
operation is written out in licensing/schema.py, from the limits below.
"""

import math
import time

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from corrosion.api.errors import error_response
from corrosion.api.fields import CONTROL_CHARACTERS
from corrosion.api.parsers import MalformedJSON, loads_json
from corrosion.api.throttling import client_address, hit
from corrosion.errors import ErrorCode
from licensing.keys import LICENSE_KEY_PATTERN
from licensing.limits import LICENSE_KEY_MAX_LENGTH, MAX_PLAYERS, PLUGIN_VERSION_MAX_LENGTH
from licensing.models import LicenseStatus
from licensing.services import HeartbeatResult, heartbeat_record

# Addresses this process has seen go over the unknown-key limit, until their window ends. The
# shared counter decides; this local copy lets every later unknown key from such an address be
# refused with no cache round trip. Known keys from the address are answered as usual.
_blocked_until: dict[str, float] = {}
_BLOCKED_MAX = 10_000


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


def _guessing(retry_after):
    return error_response(
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


@csrf_exempt
@require_POST
def heartbeat(request):
    if request.content_type != "application/json":
        return error_response(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "The request body must be JSON (application/json).")
    try:
        body = loads_json(request.body)
    except MalformedJSON:
        return error_response(ErrorCode.MALFORMED_JSON, "The request body is not valid JSON.")
    parsed, errors = _parse_heartbeat(body)
    if errors:
        return error_response(ErrorCode.INVALID, "The request is invalid; see fields.", fields=errors)
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
        address = client_address(request)
        blocked = _blocked_for(address)
        if blocked is not None:
            return _guessing(blocked)  # no cache round trip for a known guesser
        # Only unknown keys are counted in the shared cache, so real servers pay nothing for it.
        allowed, retry_after = hit("heartbeat-unknown", address, settings.HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT)
        if not allowed:
            _block(address, retry_after)
            return _guessing(retry_after)
        return error_response(ErrorCode.LICENSE_NOT_FOUND, "No license has this key.")
    if result.retry_after is not None:
        return error_response(
            ErrorCode.RATE_LIMITED,
            "Heartbeat sent too soon after the last one.",
            headers={"Retry-After": str(result.retry_after)},
        )
    return JsonResponse(
        {"status": result.status, "valid": result.status == LicenseStatus.ACTIVE, "livemode": result.livemode}
    )
