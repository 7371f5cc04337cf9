"""How the OpenAPI document describes host API keys (loaded by HostsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
