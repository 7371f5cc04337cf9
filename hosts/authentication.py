"""Bearer API-key authentication for the host API."""

import hmac
import threading

from django.conf import settings
from rest_framework import authentication, exceptions

from corrosion.api.exceptions import UNAUTHORIZED_MESSAGE
from corrosion.api.throttling import LocalBlocks, client_address, record_hit
from hosts.keys import parse_key
from hosts.models import HostAPIKey
from hosts.services import api_key_touch

AUTH_FAILURE_SCOPE = "auth-failure"

# Addresses this process has seen go over AUTH_FAILURE_RATE_LIMIT, until the shared log takes
# another failure from them: their attempts are refused before the database.
blocked_addresses = LocalBlocks(AUTH_FAILURE_SCOPE)


class _VerifiedKeys:
    """Digests of the keys this process has seen authenticate, so it knows them without a lookup.

    Only consulted for a blocked address; being here never authenticates anything (the lookup
    still checks revocation and the host). Bounded: the keys in use are a few per host.
    """

    MAX_SIZE = 10_000

    def __init__(self):
        self._lock = threading.Lock()
        self._digests: set[str] = set()

    def __contains__(self, digest):
        return digest in self._digests

    def add(self, digest):
        if digest in self._digests:
            return  # the common case: a known key, nothing to write
        with self._lock:
            if len(self._digests) >= self.MAX_SIZE:
                self._digests.clear()
            self._digests.add(digest)

    def discard(self, digest):
        with self._lock:
            self._digests.discard(digest)

    def clear(self):
        with self._lock:
            self._digests.clear()


verified_keys = _VerifiedKeys()


class HostAPIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer crn_<key id>_<secret>` (or `crn_test_…`) → (host, api key).

    The api key (`request.auth`) carries the request's mode: `request.auth.livemode` is what every
    licensing and billing read and write of the request is given, so a test key only ever reaches
    the host's test licenses and a live key its live ones.

    Every way a key can be wrong (malformed, unknown, revoked, inactive host, wrong secret) ends
    in the same AuthenticationFailed, so a caller learns nothing about which key ids exist.

    Failures are limited per client address (AUTH_FAILURE_RATE_LIMIT): each one is counted in the
    shared cache, and once an address is over, 429 until the window takes another. A successful
    request pays nothing for this: no cache round trip, one dictionary check.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # IsAuthenticated then answers the same 401; no attempt, nothing to count
        address = client_address(request)
        scheme, _, raw_key = header.partition(" ")
        raw_key = raw_key.strip()
        digest = HostAPIKey.digest_of(raw_key)

        # A blocked address: what a guess costs is the lookup, so guesses get none. A key this
        # process has already seen authenticate is still looked up and served: a partner's working
        # keys keep working from an address it shares (a NAT, a proxy) with whoever is guessing. A
        # key this process has never verified waits out the block (at most one period), the price
        # of telling it from a guess without the lookup.
        wait = blocked_addresses.wait(address)
        if wait is not None and digest not in verified_keys:
            raise exceptions.Throttled(wait=wait)
        try:
            api_key = self._verified_key(scheme, raw_key, digest)
        except exceptions.AuthenticationFailed:
            verified_keys.discard(digest)  # revoked, or its host deactivated: no more lookups on trust
            self._count_failure(address)
            raise
        verified_keys.add(digest)
        api_key_touch(api_key=api_key)
        return api_key.host, api_key

    def _verified_key(self, scheme, raw_key, digest):
        if scheme.lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed(UNAUTHORIZED_MESSAGE)
        parsed = parse_key(raw_key)
        if parsed is None:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED_MESSAGE)
        key_id, livemode = parsed

        # One indexed lookup (the unique key_id); get(), not first(), so no ORDER BY is compiled or run.
        try:
            api_key = HostAPIKey.objects.select_related("host").get(key_id=key_id)
        except HostAPIKey.DoesNotExist:
            api_key = None
        # Compare even when there is no such key, so timing does not tell whether the id exists.
        expected = api_key.digest if api_key is not None else "0" * 64
        matches = hmac.compare_digest(expected, digest)
        if not matches or api_key is None or api_key.revoked_at is not None or not api_key.host.active:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED_MESSAGE)
        # The request's mode is decided here, once: the key's row says it, and the key's own prefix
        # must say the same (the digest covers the prefix, so they cannot differ for an issued key).
        if api_key.livemode != livemode:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED_MESSAGE)
        return api_key

    @staticmethod
    def _count_failure(address):
        result = record_hit(AUTH_FAILURE_SCOPE, address, settings.AUTH_FAILURE_RATE_LIMIT)
        if not result.remaining:
            # Full: the next failure would be refused, so this process refuses the address's next
            # attempts before their lookup, until the oldest counted failure leaves the window.
            blocked_addresses.block(address, result.retry_after)
        if not result.allowed:
            raise exceptions.Throttled(wait=result.retry_after)

    def authenticate_header(self, request):
        return self.keyword
