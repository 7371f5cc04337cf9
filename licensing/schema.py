"""The licensing API's OpenAPI pieces that drf-spectacular cannot derive, built from licensing.limits
and the shared field rules, so the document says exactly what the views check.

Each body is a named component, so a client generated from the document gets one type per shape
(`ProvisionItem` for a single call and for each item of a bulk one). The heartbeat is a plain Django
view (licensing/plugin.py), which drf-spectacular cannot see, so its operation is written out here
and added by a postprocessing hook. The `LicenseStatus` component is drf-spectacular's, made from
the License's `status` (ENUM_NAME_OVERRIDES); everything else that carries a status refers to it.
"""

from corrosion.api.fields import PRINTABLE_PATTERN
from corrosion.api.schema import components_hook, ref
from licensing.limits import (
    CUSTOMER_EMAIL_MAX_LENGTH,
    HOSTNAME_MAX_LENGTH,
    LICENSE_KEY_MAX_LENGTH,
    MAX_BULK_ITEMS,
    MAX_PLAYERS,
    PLUGIN_VERSION_MAX_LENGTH,
    SERVER_ID_MAX_LENGTH,
)

_HOSTNAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": HOSTNAME_MAX_LENGTH,
    "pattern": PRINTABLE_PATTERN,
    "description": "the address players connect to",
}
_CUSTOMER_EMAIL = {
    "type": "string",
    "format": "email",
    "maxLength": CUSTOMER_EMAIL_MAX_LENGTH,
    "description": "your customer's e-mail; the license belongs to this customer",
}

COMPONENTS = {
    "ProvisionItem": {
        "type": "object",
        "description": "One game server to license.",
        "required": ["server_id", "hostname", "customer_email"],
        "properties": {
            "server_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": SERVER_ID_MAX_LENGTH,
                "pattern": PRINTABLE_PATTERN,
                "description": "your own id of the server, e.g. `rust-nyc-01`; unique within one bulk call",
            },
            "hostname": _HOSTNAME,
            "customer_email": _CUSTOMER_EMAIL,
        },
        "additionalProperties": False,
    },
    # Written out, not derived from the view's serializer: the view refuses any other field and an
    # empty body, which a serializer cannot tell drf-spectacular.
    "LicenseUpdate": {
        "type": "object",
        "description": "The fields of a license that can change: at least one of them.",
        "properties": {"hostname": _HOSTNAME, "customer_email": _CUSTOMER_EMAIL},
        "minProperties": 1,
        "additionalProperties": False,
    },
    "HeartbeatRequest": {
        "type": "object",
        "description": "What the plugin reports.",
        "required": ["license_key"],
        "properties": {
            "license_key": {
                "type": "string",
                "minLength": 1,
                "maxLength": LICENSE_KEY_MAX_LENGTH,
                "description": "the license the plugin runs with (never sent in the URL)",
            },
            "version": {
                "type": "string",
                "maxLength": PLUGIN_VERSION_MAX_LENGTH,
                "pattern": PRINTABLE_PATTERN,
                "nullable": True,
                "description": "the plugin's version",
            },
            "players": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_PLAYERS,
                "nullable": True,
                "description": "players online now",
            },
        },
    },
    "HeartbeatResponse": {
        "type": "object",
        "description": "Whether the plugin may run.",
        "required": ["status", "valid", "livemode"],
        "properties": {
            "status": ref("LicenseStatus"),
            "valid": {"type": "boolean", "description": "true only while the license is `active`"},
            "livemode": {"type": "boolean", "description": "true for a live license, false for a test-mode one"},
        },
    },
}

add_components = components_hook(COMPONENTS)

# One object, or an array of them: drf-spectacular cannot say "either" from a serializer.
PROVISION_REQUEST_SCHEMA = {
    "oneOf": [
        ref("ProvisionItem"),
        {"type": "array", "items": ref("ProvisionItem"), "minItems": 1, "maxItems": MAX_BULK_ITEMS},
    ]
}
LICENSE_UPDATE_SCHEMA = ref("LicenseUpdate")
PROVISION_RESPONSE_SCHEMA = {"oneOf": [ref("License"), {"type": "array", "items": ref("License")}]}


def _error(description):
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


HEARTBEAT_OPERATION = {
    "operationId": "plugin_heartbeat",
    "summary": "Report that the plugin is alive, and learn whether its license is valid",
    "description": (
        "Sent by the Corrosion plugin on a game server about once a minute, with its license key in "
        "the body. It records when the server was last seen (a license's `last_seen_at` and `online`). "
        "The answer tells the plugin whether to run: only an `active` license is `valid`; a suspended "
        "or terminated one is not. An unknown key is 404. Heartbeats sent more often than the "
        "license's limit, or from an address that keeps sending unknown keys, are 429 with `Retry-After`. "
        "Needs no API key."
    ),
    "tags": ["plugin"],
    "security": [],
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("HeartbeatRequest")}}},
    "responses": {
        "200": {
            "description": "Recorded",
            "content": {"application/json": {"schema": ref("HeartbeatResponse")}},
        },
        "400": _error("Malformed JSON or invalid fields"),
        "404": _error("No license has this key"),
        "413": _error("Body over MAX_REQUEST_BYTES"),
        "415": _error("Body is not application/json"),
        "429": _error("Too soon after the last heartbeat, or too many unknown keys from this address"),
    },
}


def add_heartbeat(result, generator, request, public):
    result.setdefault("paths", {})["/api/plugin/heartbeat"] = {"post": HEARTBEAT_OPERATION}
    return result
