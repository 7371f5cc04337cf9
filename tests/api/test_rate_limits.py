"""The shared rate limiter (corrosion.api.throttling): a sliding-window log, on Redis and in local memory.

Every limit counted in the shared cache goes through it: the host API rate, the heartbeat's
unknown-key counting and failed authentications. The clock is frozen and moved (time_machine),
so a minute's turn happens exactly where each test puts it.
"""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from corrosion.api.throttling import hit, record_hit

pytestmark = pytest.mark.django_db

LICENSES = "/api/host/licenses"


@pytest.fixture
def minute_end(frozen_clock):
    """The clock at 59.5 s into a minute: the next minute turns half a second later."""
    moment = timezone.now().replace(second=59, microsecond=500_000)
    frozen_clock.move_to(moment)
    return moment


def _hits(count, ident="client", rate="10/min"):
    return [hit("test", ident, rate)[0] for _ in range(count)]


def test_a_minute_boundary_does_not_let_twice_the_limit_through(rate_cache, minute_end, frozen_clock):
    """A fixed window took 10 at 59.5 s and 10 more at 0.5 s of the next minute: 20 in one second."""
    assert _hits(10) == [True] * 10
    frozen_clock.shift(1)  # 0.5 s into the next minute
    assert _hits(10) == [False] * 10
    frozen_clock.move_to(minute_end + timedelta(seconds=59, milliseconds=999))
    assert _hits(1) == [False]
    frozen_clock.move_to(minute_end + timedelta(seconds=60))  # the first ten leave the window together
    assert _hits(11) == [True] * 10 + [False]


def test_no_period_of_a_minute_holds_more_than_the_limit_and_the_limit_is_never_refused_early(
    rate_cache, minute_end, frozen_clock
):
    """Three minutes of bursts and pauses across two minute boundaries, against the ideal sliding window.

    No burst is allowed above the limit (any 60 s holds at most 10 accepted hits), and none is taken
    away below it (a hit is refused only when the last 60 s already hold 10).
    """
    start = minute_end - timedelta(seconds=50)
    frozen_clock.move_to(start)
    # (seconds after start, hits sent at that moment)
    schedule = [(0, 3), (5, 4), (20, 6), (49, 1), (50, 5), (51, 2), (62, 3), (70, 8), (109, 4), (110, 9)]
    schedule += [(111, 2), (125, 10), (150, 1), (169.9, 3), (170, 12), (175, 1), (229, 6), (231, 6)]
    accepted, decisions, expected = [], [], []
    for offset, count in schedule:
        moment = start + timedelta(seconds=offset)
        frozen_clock.move_to(moment)
        for _ in range(count):
            in_window = sum(1 for t in accepted if moment - timedelta(seconds=60) < t <= moment)
            expected.append(in_window < 10)
            allowed = hit("test", "client", "10/min")[0]
            decisions.append(allowed)
            if allowed:
                accepted.append(moment)
    assert decisions == expected
    for moment in accepted:
        assert sum(1 for t in accepted if moment - timedelta(seconds=60) < t <= moment) <= 10
    assert len(accepted) > 30  # the schedule does spend the limit several times over


def test_retry_after_is_when_the_oldest_accepted_hit_leaves_the_window(rate_cache, frozen_clock):
    first = timezone.now()
    assert hit("test", "client", "3/min") == (True, 60)
    frozen_clock.shift(10)
    assert hit("test", "client", "3/min") == (True, 50)
    frozen_clock.shift(10)
    assert hit("test", "client", "3/min") == (True, 40)
    frozen_clock.shift(15.2)
    assert hit("test", "client", "3/min") == (False, 25)  # 24.8 s, rounded up
    frozen_clock.move_to(first + timedelta(seconds=60))
    assert hit("test", "client", "3/min") == (True, 10)  # the first left; the second leaves 10 s later


def test_the_result_says_how_many_hits_remain(rate_cache, frozen_clock):
    assert [record_hit("test", "client", "3/min").remaining for _ in range(4)] == [2, 1, 0, 0]


def test_limits_are_per_scope_and_per_ident(rate_cache, frozen_clock):
    assert _hits(2, rate="2/min") == [True, True]
    assert _hits(1, rate="2/min") == [False]
    assert _hits(2, ident="another", rate="2/min") == [True, True]
    assert hit("other-scope", "client", "2/min")[0] is True


def test_concurrent_hits_never_take_more_than_the_limit(rate_cache, frozen_clock):
    """Threads race for the last places: the check and the count are one atomic step on both stores."""
    barrier = threading.Barrier(8)
    results = []

    def worker():
        barrier.wait()
        results.extend(hit("test", "client", "100/min")[0] for _ in range(40))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 320
    assert results.count(True) == 100


def test_the_host_api_limit_holds_across_a_minute_boundary(rate_cache, host_client, settings, minute_end, frozen_clock):
    settings.HOST_API_RATE_LIMIT = "5/min"
    assert [host_client.get(LICENSES).status_code for _ in range(5)] == [200] * 5
    frozen_clock.shift(1)  # the next minute
    responses = [host_client.get(LICENSES) for _ in range(5)]
    assert [r.status_code for r in responses] == [429] * 5
    assert responses[0]["Retry-After"] == "59"
    assert responses[0].json()["error"]["code"] == "rate_limited"
    frozen_clock.move_to(minute_end + timedelta(seconds=60))
    assert host_client.get(LICENSES).status_code == 200


def test_a_down_redis_lets_every_limit_through_and_logs_it(settings, frozen_clock, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    assert _hits(3, rate="1/min") == [True, True, True]
    assert "rate-limit cache unavailable" in caplog.text


def test_a_successful_request_costs_one_query_and_one_cache_round_trip(
    rate_cache, host_client, frozen_clock, django_assert_num_queries, monkeypatch
):
    """The key lookup, the page, and on Redis the host limit's one script call (EVALSHA); nothing more."""
    from redis.connection import AbstractConnection

    host_client.get(LICENSES)  # first use: writes last_used_at, loads the script into Redis
    sent = []
    original = AbstractConnection.send_packed_command
    monkeypatch.setattr(
        AbstractConnection, "send_packed_command", lambda self, *a, **kw: sent.append(a) or original(self, *a, **kw)
    )
    with django_assert_num_queries(2):  # the key with its host, the (empty) page
        assert host_client.get(LICENSES).status_code == 200
    assert len(sent) == (1 if rate_cache == "redis" else 0)
