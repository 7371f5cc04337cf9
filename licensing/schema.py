"""The heartbeat's OpenAPI description.

The heartbeat is a plain Django view (see licensing/apis.py), which drf-spectacular cannot see,
so its operation is written out here and added by a postprocessing hook.
"""

_ERROR = {"$ref": "#/components/schemas/Error"}
# The control characters the API refuses in text fields (licensing.apis), said to clients as a pattern.
PRINTABLE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"


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
                        "license_key": {"type": "string", "minLength": 1, "maxLength": 64},
                        "version": {
                            "type": "string",
                            "maxLength": 64,
                            "pattern": PRINTABLE_PATTERN,
                            "nullable": True,
                        },
                        "players": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "nullable": True},
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
                            "status": {"type": "string", "enum": ["active", "suspended", "terminated"]},
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
