"""How the OpenAPI document describes host API keys (loaded by HostsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class HostAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "hosts.authentication.HostAPIKeyAuthentication"
    name = "hostApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "crn_<key id>_<secret> (live) or crn_test_<key id>_<secret> (test mode)",
            "description": (
                "A host API key, issued by Corrosion staff and shown once. A live key (`crn_...`) acts on "
                "your live licenses, which are billed; a test key (`crn_test_...`) on your test-mode "
                "licenses only, which are never billed. Neither sees the other's licenses."
            ),
        }
