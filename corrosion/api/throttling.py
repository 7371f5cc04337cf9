"""Rate limits counted in the shared cache, so they hold across every worker and app server.

A fixed window per limit: one atomic increment per request (Redis INCR), no read-modify-write
race between workers. DRF's SimpleRateThrottle keeps a list of timestamps that two workers can
both read and overwrite, losing hits; this cannot.
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_rate(rate):
    """'600/min' -> (600, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


def _redis_client(backend, key):
    """The backend's writing client, made once per backend.

    Django builds a new redis.Redis (and its ~170 response callbacks) on every call. The backend
    object is per thread, and so is the client kept on it; its connection pool is the backend's.
    """
    client = getattr(backend, "_rate_limit_client", None)
    if client is None:
        client = backend._rate_limit_client = backend._cache.get_client(key, write=True)
    return client


def _increment(key, timeout):
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        # One round trip: create the window's counter with its expiry if new, then count.
        pipe = _redis_client(backend, full_key).pipeline()
        pipe.set(full_key, 0, ex=timeout, nx=True)
        pipe.incr(full_key)
        return pipe.execute()[1]
    if backend.add(key, 1, timeout):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout)
        return 1


def hit(scope, ident, rate):
    """Count one hit; returns (allowed, seconds until the window resets).

    If the shared cache is down the request is let through and the outage logged: a limit is
    protection, and refusing every partner while Redis restarts would be the bigger failure.
    """
    limit, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    retry_after = max(1, math.ceil((window + 1) * period - now))
    try:
        count = _increment(f"rl:{scope}:{ident}:{window}", period + 1)
    except Exception as exc:  # redis.exceptions.ConnectionError and its kin; the backend varies
        logger.warning("rate-limit cache unavailable, not limiting: %s", exc.__class__.__name__)
        return True, retry_after
    return count <= limit, retry_after


def client_address(request):
    """The client's address for per-address limits: REMOTE_ADDR, or the header CLIENT_IP_HEADER
    names, which only the TLS proxy in front may set."""
    return request.META.get(settings.CLIENT_IP_HEADER) or request.META.get("REMOTE_ADDR", "")
