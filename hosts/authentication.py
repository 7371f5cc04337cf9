"""Bearer API-key authentication for the host API."""

import hmac

from rest_framework import authentication, exceptions

from corrosion.api.exceptions import UNAUTHORIZED_MESSAGE
from hosts.keys import parse_key_id
from hosts.models import HostAPIKey
from hosts.services import api_key_touch


class HostAPIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer crn_<key id>_<secret>` → (host, api key).

    Every way a key can be wrong (malformed, unknown, revoked, inactive host, wrong secret) ends
    in the same AuthenticationFailed, so a caller learns nothing about which key ids exist.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # IsAuthenticated then answers the same 401
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed(UNAUTHORIZED_MESSAGE)
        raw_key = raw_key.strip()
        key_id = parse_key_id(raw_key)
        if key_id is None:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED_MESSAGE)

        # One indexed lookup (the unique key_id); get(), not first(), so no ORDER BY is compiled or run.
        try:
            api_key = HostAPIKey.objects.select_related("host").get(key_id=key_id)
        except HostAPIKey.DoesNotExist:
            api_key = None
        # Compare even when there is no such key, so timing does not tell whether the id exists.
        expected = api_key.digest if api_key is not None else "0" * 64
        matches = hmac.compare_digest(expected, HostAPIKey.digest_of(raw_key))
        if not matches or api_key is None or api_key.revoked_at is not None or not api_key.host.active:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED_MESSAGE)

        api_key_touch(api_key=api_key)
        return api_key.host, api_key

    def authenticate_header(self, request):
        return self.keyword
