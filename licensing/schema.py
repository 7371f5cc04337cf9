"""The licensing API's OpenAPI pieces that drf-spectacular cannot derive, built from licensing.limits
and the shared field rules, so the document says exactly what the views check.

The heartbeat is a plain Django view (licensing/plugin.py), which drf-spectacular cannot see, so its
operation is written out here and added by a postprocessing hook.
"""

from corrosion.api.fields import PRINTABLE_PATTERN
from licensing.limits import (
    CUSTOMER_EMAIL_MAX_LENGTH,
    HOSTNAME_MAX_LENGTH,
    LICENSE_KEY_MAX_LENGTH,
    MAX_BULK_ITEMS,
    MAX_PLAYERS,
    PLUGIN_VERSION_MAX_LENGTH,
    SERVER_ID_MAX_LENGTH,
)
from licensing.models import LicenseStatus

_PROVISION_ITEM_SCHEMA = {
    "type": "object",
    "required": ["server_id", "hostname", "customer_email"],
    "properties": {
        "server_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": SERVER_ID_MAX_LENGTH,
            "pattern": PRINTABLE_PATTERN,
            "description": "your own id of the server; unique within one bulk call",
        },
        "hostname": {"type": "string", "minLength": 1, "maxLength": HOSTNAME_MAX_LENGTH, "pattern": PRINTABLE_PATTERN},
        "customer_email": {"type": "string", "format": "email", "maxLength": CUSTOMER_EMAIL_MAX_LENGTH},
    },
    "additionalProperties": False,
}
# One object, or an array of them: drf-spectacular cannot say "either" from a serializer.
PROVISION_REQUEST_SCHEMA = {
    "oneOf": [
        _PROVISION_ITEM_SCHEMA,
        {"type": "array", "items": _PROVISION_ITEM_SCHEMA, "minItems": 1, "maxItems": MAX_BULK_ITEMS},
    ]
}
# Written out, not derived from the view's serializer: the view refuses any other field and an
# empty body, which a serializer cannot tell drf-spectacular.
LICENSE_UPDATE_SCHEMA = {
    "type": "object",
    "properties": {
        "hostname": _PROVISION_ITEM_SCHEMA["properties"]["hostname"],
        "customer_email": _PROVISION_ITEM_SCHEMA["properties"]["customer_email"],
    },
    "minProperties": 1,
    "additionalProperties": False,
}
PROVISION_RESPONSE_SCHEMA = {
    "oneOf": [
        {"$ref": "#/components/schemas/License"},
        {"type": "array", "items": {"$ref": "#/components/schemas/License"}},
    ]
}

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description):
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


HEARTBEAT_OPERATION = {
    "operationId": "plugin_heartbeat",
    "summary": "The plugin reports it is alive and learns whether its license is valid",
    "description": (
        "Sent by the Corrosion plugin about once a minute, with its license key in the body (never the URL). "
        "Only an `active` license is `valid`."
    ),
    "tags": ["plugin"],
    "security": [],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["license_key"],
                    "properties": {
                        "license_key": {"type": "string", "minLength": 1, "maxLength": LICENSE_KEY_MAX_LENGTH},
                        "version": {
                            "type": "string",
                            "maxLength": PLUGIN_VERSION_MAX_LENGTH,
                            "pattern": PRINTABLE_PATTERN,
                            "nullable": True,
                        },
                        "players": {"type": "integer", "minimum": 0, "maximum": MAX_PLAYERS, "nullable": True},
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "Recorded",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "valid"],
                        "properties": {
                            "status": {"type": "string", "enum": list(LicenseStatus.values)},
                            "valid": {"type": "boolean"},
                        },
                    }
                }
            },
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
