"""Rate limits counted in the shared cache, so they hold across every worker and app server.

A sliding-window log: a limit keeps the times of the hits it let through within the last period and
lets another through only while fewer than `limit` are there. So no stretch of one period, wherever
it starts, ever holds more than `limit` accepted hits (a fixed window let 993 through in 4.4 s at
600/min, across a minute's boundary), and a client may still spend its whole limit at once: no
burst above the limit, none refused below it. A token bucket (GCRA) has one or the other: a bucket
as deep as the limit lets twice the limit through in a period, a shallow one refuses bursts the
limit allows.

On Redis one Lua script does it, in one round trip and atomically (two workers never both take the
last place): drop the entries older than the period, count, add. Memory is one sorted-set entry per
hit accepted within the last period, so it is bounded by the limits themselves, and a log's key
expires a period after its last accepted hit. With no Redis configured (the demo, a laptop) the
same log lives in this process's memory, behind a lock.
"""

import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from corrosion.limits import parse_rate

__all__ = ["HitResult", "LocalBlocks", "client_address", "hit", "parse_rate", "record_hit"]

logger = logging.getLogger(__name__)

# KEYS[1]: the log; ARGV: now (ms), period (ms), limit, a member naming this hit.
# Returns {allowed (0/1), entries in the window after this hit, the oldest entry's time (ms)}.
_SLIDING_LOG = """
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], period)
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
return {allowed, count, oldest or ARGV[1]}
"""


@dataclass(frozen=True)
class HitResult:
    allowed: bool
    # Seconds until the oldest accepted hit leaves the window, i.e. until a full log takes one more.
    retry_after: int
    # Hits the window still takes after this one (0: the next is refused unless time passes first).
    remaining: int


def _full_key(backend, scope, ident):
    return backend.make_and_validate_key(f"rl:{scope}:{ident}")


def _redis_script(backend, key):
    """The backend's writing client's script, made once per backend.

    Django builds a new redis.Redis (and its ~170 response callbacks) on every call. The backend
    object is per thread, and so is the script kept on it; its connection pool is the backend's.
    The script is sent by its digest (EVALSHA), and loaded once if Redis does not know it yet.
    """
    script = getattr(backend, "_rate_limit_script", None)
    if script is None:
        client = backend._cache.get_client(key, write=True)
        script = backend._rate_limit_script = client.register_script(_SLIDING_LOG)
    return script


def _redis_log(backend, key, now_ms, period_ms, limit):
    member = f"{now_ms}:{os.urandom(6).hex()}"  # unique, so two hits in one millisecond are two entries
    allowed, count, oldest = _redis_script(backend, key)(keys=[key], args=[now_ms, period_ms, limit, member])
    return bool(allowed), int(count), int(float(oldest))


class _LocalLogs:
    """The same sliding-window logs in this process, for when no Redis is configured; thread-safe."""

    MAX_KEYS = 100_000

    def __init__(self):
        self._lock = threading.Lock()
        self._logs: dict[str, tuple[int, deque]] = {}

    def hit(self, key, now_ms, period_ms, limit):
        with self._lock:
            if key not in self._logs and len(self._logs) >= self.MAX_KEYS:
                self._sweep(now_ms)
            _, log = self._logs.setdefault(key, (period_ms, deque()))
            while log and log[0] <= now_ms - period_ms:
                log.popleft()
            allowed = len(log) < limit
            if allowed:
                log.append(now_ms)
            oldest = log[0] if log else now_ms
            count = len(log)
            if not log:
                del self._logs[key]
            return allowed, count, oldest

    def _sweep(self, now_ms):
        expired = [key for key, (period, log) in self._logs.items() if not log or log[-1] <= now_ms - period]
        for key in expired:
            del self._logs[key]
        if len(self._logs) >= self.MAX_KEYS:
            # A flood from that many idents at once: forget them rather than grow without bound.
            logger.warning("local rate-limit logs full, starting over")
            self._logs.clear()


_local_logs = _LocalLogs()


def record_hit(scope, ident, rate) -> HitResult:
    """Count one hit of `ident` against `rate` ("600/min") in `scope`, if the window takes it.

    If the shared cache is down the hit is let through and the outage logged: a limit is
    protection, and refusing every partner while Redis restarts would be the bigger failure.
    """
    limit, period = parse_rate(rate)
    period_ms = period * 1000
    now_ms = int(time.time() * 1000)
    backend = caches["default"]
    key = _full_key(backend, scope, ident)
    if isinstance(backend, RedisCache):
        try:
            allowed, count, oldest = _redis_log(backend, key, now_ms, period_ms, limit)
        except Exception as exc:  # redis.exceptions.ConnectionError and its kin
            logger.warning("rate-limit cache unavailable, not limiting: %s", exc.__class__.__name__)
            return HitResult(allowed=True, retry_after=period, remaining=limit)
    else:
        allowed, count, oldest = _local_logs.hit(key, now_ms, period_ms, limit)
    retry_after = max(1, math.ceil((oldest + period_ms - now_ms) / 1000))
    return HitResult(allowed=allowed, retry_after=retry_after, remaining=max(0, limit - count))


def hit(scope, ident, rate):
    """Count one hit; returns (allowed, seconds until the window takes another once it is full)."""
    result = record_hit(scope, ident, rate)
    return result.allowed, result.retry_after


class LocalBlocks:
    """Idents this process has seen go over a shared limit, until their wait ends.

    The shared log decides; this local copy lets the process refuse an over-limit ident's next
    requests before any database lookup or cache round trip. Checking it costs nothing while it is
    empty, which is the common case. It reads the wall clock, as the logs do, so both agree.
    """

    MAX_SIZE = 10_000

    def __init__(self, scope):
        self.scope = scope
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def wait(self, ident) -> int | None:
        """Seconds this ident is still blocked for, or None."""
        if not self._until:
            return None
        key = _full_key(caches["default"], self.scope, ident)
        until = self._until.get(key)
        if until is None:
            return None
        remaining = until - time.time()
        if remaining <= 0:
            with self._lock:
                self._until.pop(key, None)
            return None
        return max(1, math.ceil(remaining))

    def block(self, ident, seconds):
        key = _full_key(caches["default"], self.scope, ident)
        with self._lock:
            if len(self._until) >= self.MAX_SIZE:
                self._until.clear()  # a flood from that many addresses: start over rather than grow
            self._until[key] = time.time() + seconds

    def clear(self):
        with self._lock:
            self._until.clear()


def client_address(request):
    """The client's address for per-address limits: REMOTE_ADDR, or the header CLIENT_IP_HEADER
    names, which only the TLS proxy in front may set."""
    return client_address_of(request.META)


def client_address_of(meta):
    """client_address() from a request's META or a WSGI environ (the same keys)."""
    return meta.get(settings.CLIENT_IP_HEADER) or meta.get("REMOTE_ADDR", "")
