import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from audit.services import Actor
from hosts.models import HostAPIKey
from hosts.services import api_key_issue, api_key_revoke, host_update

pytestmark = pytest.mark.django_db

URL = "/api/host/licenses"
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "Missing or invalid API key."}}


def _get(raw_header=None):
    client = APIClient()
    if raw_header is not None:
        client.credentials(HTTP_AUTHORIZATION=raw_header)
    return client.get(URL)


def _assert_unauthorized(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == UNAUTHORIZED


def test_a_valid_key_authenticates(api_key):
    response = _get(f"Bearer {api_key}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token crn_abcdefgh_" + "a" * 43,
        "Bearer not-a-key",
        "Bearer crn_ABCDEFGH_" + "a" * 43,
        "Bearer crn_abcdefgh_" + "a" * 10,
        "Bearer crn_abcdefgh_" + "a" * 43 + "!",
        "Bearer crn_abcdefgh_" + "a" * 43,  # well-formed, unknown
        "Bearer crn_abcdefgh_" + "é" * 43,
    ],
)
def test_every_bad_key_gets_the_same_401(db, header):
    _assert_unauthorized(_get(header))


def test_a_known_key_id_with_a_wrong_secret_gets_the_same_401(host, api_key):
    key_id = api_key.split("_")[1]
    _assert_unauthorized(_get(f"Bearer crn_{key_id}_{'B' * 43}"))


def test_a_revoked_key_gets_401_and_stays_revoked(api_key, command_actor):
    key_id = api_key.split("_")[1]
    api_key_revoke(key_id=key_id, actor=command_actor)
    _assert_unauthorized(_get(f"Bearer {api_key}"))
    revoked_at = HostAPIKey.objects.get(key_id=key_id).revoked_at
    api_key_revoke(key_id=key_id, actor=command_actor)
    assert HostAPIKey.objects.get(key_id=key_id).revoked_at == revoked_at
    _assert_unauthorized(_get(f"Bearer {api_key}"))


def test_a_key_of_an_inactive_host_gets_401_and_works_again_when_reactivated(host, api_key, command_actor):
    host_update(host=host, active=False, actor=command_actor)
    _assert_unauthorized(_get(f"Bearer {api_key}"))
    host_update(host=host, active=True, actor=command_actor)
    assert _get(f"Bearer {api_key}").status_code == 200


def test_two_keys_of_one_host_both_work_until_one_is_revoked(host, api_key, command_actor):
    second = api_key_issue(host=host, name="rotation", actor=command_actor).raw_key
    assert _get(f"Bearer {api_key}").status_code == 200
    assert _get(f"Bearer {second}").status_code == 200
    api_key_revoke(key_id=api_key.split("_")[1], actor=command_actor)
    _assert_unauthorized(_get(f"Bearer {api_key}"))
    assert _get(f"Bearer {second}").status_code == 200


def test_the_key_check_is_one_query(api_key, django_assert_num_queries):
    _get(f"Bearer {api_key}")  # first use writes last_used_at
    with django_assert_num_queries(2):  # the key with its host, then the (empty) license page
        assert _get(f"Bearer {api_key}").status_code == 200


def test_last_used_is_written_at_most_every_few_minutes(api_key):
    key_id = api_key.split("_")[1]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _get(f"Bearer {api_key}")
    assert HostAPIKey.objects.get(key_id=key_id).last_used_at == start
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        _get(f"Bearer {api_key}")
    assert HostAPIKey.objects.get(key_id=key_id).last_used_at == start
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        _get(f"Bearer {api_key}")
    assert HostAPIKey.objects.get(key_id=key_id).last_used_at == start + timedelta(minutes=5)


def test_issued_keys_have_the_contract_format(host):
    issued = api_key_issue(host=host, actor=Actor.command("tests"))
    prefix, key_id, secret = issued.raw_key.split("_")
    assert prefix == "crn"
    assert key_id == issued.api_key.key_id
    assert re.fullmatch(r"[a-z0-9]{8}", key_id)
    assert re.fullmatch(r"[A-Za-z0-9]{43,}", secret)


def test_no_raw_key_or_secret_is_stored_anywhere(host, api_key, command_actor):
    second = api_key_issue(host=host, name="second", actor=command_actor).raw_key
    _get(f"Bearer {api_key}")
    secrets = [api_key, api_key.split("_")[2], second, second.split("_")[2]]
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row)
                found += [(table, secret) for secret in secrets if secret in text]
    assert found == []


# --- Failed authentication is limited per client address (AUTH_FAILURE_RATE_LIMIT) ---------------


@pytest.fixture
def no_blocked_addresses():
    from hosts.authentication import blocked_addresses, verified_keys

    blocked_addresses.clear()
    verified_keys.clear()
    yield
    blocked_addresses.clear()
    verified_keys.clear()


def _wrong_key(n):
    return f"Bearer crn_{n:08d}_{'W' * 43}"


def _from(address, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client.get(URL, REMOTE_ADDR=address)


def _queries(response_maker):
    with CaptureQueriesContext(connection) as queries:
        response = response_maker()
    return response, len(queries)


def test_the_31st_wrong_key_from_one_address_is_429_and_no_lookup(rate_cache, frozen_clock, no_blocked_addresses):
    statuses, lookups = [], []
    for n in range(30):
        response, count = _queries(lambda n=n: _from("203.0.113.9", _wrong_key(n)))
        statuses.append(response.status_code)
        lookups.append(count)
    assert statuses == [401] * 30
    assert lookups == [1] * 30  # each wrong key costs its one lookup

    for n in range(30, 40):
        response, count = _queries(lambda n=n: _from("203.0.113.9", _wrong_key(n)))
        assert response.status_code == 429
        assert count == 0  # refused before the database
        assert response.json()["error"]["code"] == "rate_limited"
        assert response["Retry-After"] == "60"


def test_a_wrong_secret_for_a_real_key_id_counts_too(api_key, rate_cache, frozen_clock, no_blocked_addresses, settings):
    settings.AUTH_FAILURE_RATE_LIMIT = "3/min"
    key_id = api_key.split("_")[1]
    statuses = [_from("203.0.113.9", f"Bearer crn_{key_id}_{'B' * 43}").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_malformed_keys_count_as_failures(db, rate_cache, frozen_clock, no_blocked_addresses, settings):
    settings.AUTH_FAILURE_RATE_LIMIT = "3/min"
    headers = ["Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer ", "Token x"]
    assert [_from("203.0.113.9", h).status_code for h in headers] == [401, 401, 401, 429]


def test_another_address_is_not_affected(api_key, rate_cache, frozen_clock, no_blocked_addresses, settings):
    settings.AUTH_FAILURE_RATE_LIMIT = "3/min"
    for n in range(4):
        _from("203.0.113.9", _wrong_key(n))
    assert _from("203.0.113.9", _wrong_key(9)).status_code == 429
    assert _from("198.51.100.7", _wrong_key(9)).status_code == 401
    assert _from("198.51.100.7", f"Bearer {api_key}").status_code == 200


def test_after_the_window_the_address_is_answered_again(
    api_key, rate_cache, frozen_clock, no_blocked_addresses, settings
):
    settings.AUTH_FAILURE_RATE_LIMIT = "3/min"
    start = timezone.now()
    for n in range(3):
        _from("203.0.113.9", _wrong_key(n))
    frozen_clock.shift(59)
    response = _from("203.0.113.9", _wrong_key(3))
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    frozen_clock.move_to(start + timedelta(seconds=60))
    assert _from("203.0.113.9", f"Bearer {api_key}").status_code == 200
    assert _from("203.0.113.9", _wrong_key(4)).status_code == 401


def test_a_key_already_verified_is_served_from_a_blocked_address_and_a_new_one_waits(
    host, api_key, command_actor, rate_cache, frozen_clock, no_blocked_addresses, settings, django_assert_num_queries
):
    """The partner's working key keeps working from an address it shares with a guesser (a NAT);
    a key this process has never seen authenticate waits out the block, with no lookup."""
    settings.AUTH_FAILURE_RATE_LIMIT = "3/min"
    assert _from("203.0.113.9", f"Bearer {api_key}").status_code == 200
    for n in range(3):
        _from("203.0.113.9", _wrong_key(n))
    with django_assert_num_queries(2):  # the key, then the page: no more than any other request
        assert _from("203.0.113.9", f"Bearer {api_key}").status_code == 200
    new_key = api_key_issue(host=host, name="new", actor=command_actor).raw_key
    response, count = _queries(lambda: _from("203.0.113.9", f"Bearer {new_key}"))
    assert (response.status_code, count) == (429, 0)
    assert _from("198.51.100.7", f"Bearer {new_key}").status_code == 200


def test_a_revoked_key_is_not_trusted_past_a_block(
    api_key, command_actor, rate_cache, frozen_clock, no_blocked_addresses, settings
):
    settings.AUTH_FAILURE_RATE_LIMIT = "3/min"
    assert _from("203.0.113.9", f"Bearer {api_key}").status_code == 200
    api_key_revoke(key_id=api_key.split("_")[1], actor=command_actor)
    for _ in range(3):
        assert _from("203.0.113.9", f"Bearer {api_key}").status_code in (401, 429)
    response, count = _queries(lambda: _from("203.0.113.9", f"Bearer {api_key}"))
    assert (response.status_code, count) == (429, 0)


def test_every_process_learns_the_block_at_its_first_failure(rate_cache, frozen_clock, no_blocked_addresses, settings):
    """Another worker shares the Redis log but not this process's memory: one lookup, then none."""
    if rate_cache != "redis":
        pytest.skip("only Redis is shared between processes")
    from hosts.authentication import blocked_addresses

    settings.AUTH_FAILURE_RATE_LIMIT = "3/min"
    for n in range(3):
        _from("203.0.113.9", _wrong_key(n))
    blocked_addresses.clear()  # as a worker that has not seen this address yet
    response, count = _queries(lambda: _from("203.0.113.9", _wrong_key(3)))
    assert (response.status_code, count) == (429, 1)
    response, count = _queries(lambda: _from("203.0.113.9", _wrong_key(4)))
    assert (response.status_code, count) == (429, 0)


def test_a_successful_request_pays_nothing_for_the_failure_limit(
    api_key, rate_cache, frozen_clock, no_blocked_addresses, monkeypatch
):
    """No failure is counted for a real key: the host limit is the request's only cache round trip."""
    from corrosion.api import throttling

    _get(f"Bearer {api_key}")
    scopes = []
    original = throttling.record_hit
    monkeypatch.setattr(throttling, "record_hit", lambda scope, *a: scopes.append(scope) or original(scope, *a))
    monkeypatch.setattr("hosts.authentication.record_hit", throttling.record_hit)
    for _ in range(5):
        assert _get(f"Bearer {api_key}").status_code == 200
    assert scopes == ["host"] * 5


def test_a_down_cache_leaves_failures_at_401_and_logs_it(db, settings, frozen_clock, no_blocked_addresses, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    settings.AUTH_FAILURE_RATE_LIMIT = "1/min"
    assert [_from("203.0.113.9", _wrong_key(n)).status_code for n in range(3)] == [401] * 3
    assert "rate-limit cache unavailable" in caplog.text
