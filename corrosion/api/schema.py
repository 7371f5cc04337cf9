"""OpenAPI pieces shared by every app's views: the error body and the bearer-key scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(help_text="machine-readable, e.g. `invalid`, `server_id_conflict`"),
                "message": serializers.CharField(help_text="for humans"),
                "fields": serializers.DictField(
                    required=False,
                    help_text="validation errors by field; for bulk calls by item index, then field",
                ),
            },
        )
    },
)

_DESCRIPTIONS = {
    400: "Invalid input: malformed JSON, or fields named in `error.fields`.",
    401: "Missing, unknown or revoked API key, or an inactive host (`WWW-Authenticate: Bearer`).",
    404: "No such object for this host.",
    409: "Conflicts with the current state.",
    413: "Body over MAX_REQUEST_BYTES.",
    415: "Body is not `application/json`.",
    429: "Rate limit exceeded; see `Retry-After`.",
}


def error_responses(*statuses):
    """The error statuses an operation can answer, each with the shared error body."""
    return {status: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status]) for status in statuses}


class HostAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "hosts.authentication.HostAPIKeyAuthentication"
    name = "hostApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "crn_<key id>_<secret>",
            "description": "A host API key, issued by Corrosion staff and shown once.",
        }
