from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from hosts.services import host_update
from licensing.models import HostLicense, LicenseStatus
from tests.factories import HostLicenseFactory

pytestmark = pytest.mark.django_db

URL = "/api/plugin/heartbeat"


def beat(body, client=None, **extra):
    return (client or APIClient()).post(URL, body, format="json", **extra)


@pytest.mark.parametrize(
    ("status", "valid"),
    [(LicenseStatus.ACTIVE, True), (LicenseStatus.SUSPENDED, False), (LicenseStatus.TERMINATED, False)],
)
def test_it_answers_the_status_and_whether_it_is_valid(status, valid):
    host_license = HostLicenseFactory(status=status)
    response = beat({"license_key": host_license.license.license_key})
    assert response.status_code == 200
    assert response.json() == {"status": status, "valid": valid, "livemode": True}


def test_a_test_mode_license_says_it_is_not_live():
    host_license = HostLicenseFactory(livemode=False, license__livemode=False)
    response = beat({"license_key": host_license.license.license_key})
    assert response.status_code == 200
    assert response.json() == {"status": "active", "valid": True, "livemode": False}


def test_it_records_last_seen_version_and_players_visible_through_the_host_api(host, host_client):
    host_license = HostLicenseFactory(host=host)
    moment = timezone.now().replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        assert (
            beat({"license_key": host_license.license.license_key, "version": "2.4.1", "players": 37}).status_code
            == 200
        )
        body = host_client.get(f"/api/host/licenses/{host_license.license_id}").json()
    assert body["last_seen_at"] == moment.isoformat().replace("+00:00", "Z")
    assert body["online"] is True
    host_license.refresh_from_db()
    assert (host_license.plugin_version, host_license.player_count) == ("2.4.1", 37)


def test_a_heartbeat_without_optional_fields_keeps_the_last_ones():
    host_license = HostLicenseFactory(plugin_version="1.0", player_count=5)
    beat({"license_key": host_license.license.license_key})
    host_license.refresh_from_db()
    assert (host_license.plugin_version, host_license.player_count) == ("1.0", 5)
    assert host_license.last_seen_at is not None


def test_a_deactivated_hosts_active_licenses_still_validate(command_actor):
    host_license = HostLicenseFactory()
    host_update(host=host_license.host, active=False, actor=command_actor)
    assert beat({"license_key": host_license.license.license_key}).json() == {
        "status": "active",
        "valid": True,
        "livemode": True,
    }


def test_a_license_is_offline_after_the_online_window(host, host_client, settings):
    host_license = HostLicenseFactory(host=host)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        beat({"license_key": host_license.license.license_key})
    with time_machine.travel(start + timedelta(minutes=settings.ONLINE_WINDOW_MINUTES, seconds=1), tick=False):
        body = host_client.get(f"/api/host/licenses/{host_license.license_id}").json()
    assert body["online"] is False


@pytest.mark.parametrize("key", ["CRN-00000-00000-00000-00000-00000-00000", "not-a-key", "x" * 64])
def test_an_unknown_key_is_404(db, key):
    response = beat({"license_key": key})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "license_not_found"


def test_a_heartbeat_too_soon_after_the_last_is_429_and_not_recorded(settings):
    settings.HEARTBEAT_RATE_LIMIT = "12/min"  # one every 5 seconds
    host_license = HostLicenseFactory()
    key = host_license.license.license_key
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert beat({"license_key": key}).status_code == 200
    with time_machine.travel(start + timedelta(seconds=3), tick=False):
        response = beat({"license_key": key, "players": 99})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert response["Retry-After"] == "2"
    host_license.refresh_from_db()
    assert host_license.last_seen_at == start
    assert host_license.player_count is None
    with time_machine.travel(start + timedelta(seconds=5), tick=False):
        assert beat({"license_key": key}).status_code == 200


@pytest.fixture
def no_blocked_addresses():
    from licensing import plugin

    plugin._blocked_until.clear()
    yield
    plugin._blocked_until.clear()


def test_guessing_keys_from_one_address_gets_429(db, settings, no_blocked_addresses, frozen_clock):
    settings.HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT = "5/min"
    guesses = [f"CRN-00000-00000-00000-00000-00000-{n:05d}" for n in range(8)]
    statuses = [beat({"license_key": key}, REMOTE_ADDR="203.0.113.9").status_code for key in guesses]
    assert statuses == [404] * 5 + [429] * 3
    assert 1 <= int(beat({"license_key": guesses[0]}, REMOTE_ADDR="203.0.113.9")["Retry-After"]) <= 60
    # another address is not affected
    assert beat({"license_key": guesses[0]}, REMOTE_ADDR="198.51.100.1").status_code == 404


def test_a_blocked_address_still_gets_answers_for_real_keys_and_only_unknown_keys_are_refused(
    db, settings, no_blocked_addresses, frozen_clock
):
    """A shared address (NAT, proxy) guessing keys must not take the real servers behind it offline."""
    settings.HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT = "2/min"
    host_license = HostLicenseFactory()
    statuses = [
        beat({"license_key": f"CRN-00000-00000-00000-00000-00000-{n:05d}"}, REMOTE_ADDR="203.0.113.9").status_code
        for n in range(3)
    ]
    assert statuses == [404, 404, 429]

    response = beat({"license_key": host_license.license.license_key}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response.json() == {"status": "active", "valid": True, "livemode": True}
    host_license.refresh_from_db()
    assert host_license.last_seen_at is not None

    # The next unknown key from that address is still refused, without touching the shared cache.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    refused = beat({"license_key": "CRN-00000-00000-00000-00000-00000-99999"}, REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_a_down_cache_does_not_break_heartbeats_of_unknown_keys(db, settings, no_blocked_addresses, frozen_clock):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = beat({"license_key": "CRN-00000-00000-00000-00000-00000-00000"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "license_key"),
        ({"license_key": 123}, "license_key"),
        ({"license_key": "x" * 65}, "license_key"),
        ({"license_key": "CRN-X", "players": -1}, "players"),
        ({"license_key": "CRN-X", "players": "many"}, "players"),
        ({"license_key": "CRN-X", "players": True}, "players"),
        ({"license_key": "CRN-X", "players": 1.5}, "players"),
        ({"license_key": "CRN-X", "version": "v" * 65}, "version"),
        ({"license_key": "CRN-X", "version": "1.0\x00"}, "version"),
        ({"license_key": "CRN-X", "version": 2}, "version"),
        (["CRN-X"], "non_field_errors"),
    ],
)
def test_bad_input_is_400_naming_the_field(db, body, field):
    response = beat(body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_malformed_json_is_400_and_other_content_types_415(db):
    client = APIClient()
    response = client.generic("POST", URL, "{nope", content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "malformed_json")
    response = client.generic("POST", URL, "license_key=x", content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.json()["error"]["code"]) == (415, "unsupported_media_type")
    response = client.get(URL)
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize("escaped", ["\\ud800", "\\udfff", "x\\udc00y"])
def test_a_lone_surrogate_is_malformed_json_not_a_500(db, escaped):
    body = f'{{"license_key": "CRN-00000-00000-00000-00000-00000-00000", "version": "{escaped}"}}'
    response = APIClient().generic("POST", URL, body, content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "malformed_json")


def test_a_valid_surrogate_pair_is_fine(db):
    host_license = HostLicenseFactory()
    body = f'{{"license_key": "{host_license.license.license_key}", "version": "crab \\ud83e\\udd80"}}'
    assert APIClient().generic("POST", URL, body, content_type="application/json").status_code == 200
    host_license.refresh_from_db()
    assert host_license.plugin_version == "crab 🦀"


def test_the_key_in_the_url_is_not_accepted(db):
    host_license = HostLicenseFactory()
    response = APIClient().post(f"{URL}?license_key={host_license.license.license_key}", {}, format="json")
    assert response.status_code == 400


def test_a_heartbeat_is_at_most_two_sql_statements():
    host_license = HostLicenseFactory()
    key = host_license.license.license_key
    for body, expected in (({"license_key": key}, 200), ({"license_key": key}, 429)):
        with CaptureQueriesContext(connection) as queries:
            assert beat(body).status_code == expected
        statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
        assert len(statements) <= 2, statements
    HostLicense.objects.filter(pk=host_license.pk).update(last_seen_at=None)
    with CaptureQueriesContext(connection) as queries:
        assert beat({"license_key": key}).status_code == 200
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"].upper()]) == 1


def test_heartbeats_are_not_counted_against_the_host_api_limit(host, host_client, settings, frozen_clock):
    settings.HOST_API_RATE_LIMIT = "1/min"
    settings.HEARTBEAT_RATE_LIMIT = "1000/s"
    key = HostLicenseFactory(host=host).license.license_key
    for _ in range(5):
        frozen_clock.shift(0.01)  # past the heartbeat limit's interval
        assert beat({"license_key": key}).status_code == 200
    assert host_client.get("/api/host/licenses").status_code == 200
    assert host_client.get("/api/host/licenses").status_code == 429


@pytest.mark.parametrize("status", [LicenseStatus.SUSPENDED, LicenseStatus.TERMINATED])
def test_heartbeats_of_any_status_update_last_seen_through_the_api(host, host_client, status):
    host_license = HostLicenseFactory(host=host, status=status)
    assert beat({"license_key": host_license.license.license_key}).json()["valid"] is False
    body = host_client.get(f"/api/host/licenses/{host_license.license_id}").json()
    assert body["last_seen_at"] is not None
    # A terminated license is never online, however its plugin beats on (test_list.py).
    assert body["online"] is (status != LicenseStatus.TERMINATED)


@pytest.mark.postgres_only
def test_on_postgresql_every_answer_is_one_prepared_statement():
    host_license = HostLicenseFactory()
    key = host_license.license.license_key
    for body, expected in (
        ({"license_key": key}, 200),
        ({"license_key": key}, 429),
        ({"license_key": "CRN-00000-00000-00000-00000-00000-00000"}, 404),
    ):
        with CaptureQueriesContext(connection) as queries:
            assert beat(body).status_code == expected
        assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"].upper()]) == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%recorded AS%%'")
        assert cursor.fetchone()[0] == 1
