"""The heartbeat's WSGI route (licensing/plugin.py, corrosion/wsgi.py) through the real WSGI callable.

The test client calls Django's handler directly, past anything in front of it, so these tests call
`corrosion.wsgi.application` with a WSGI environ, as gunicorn does, and hold the route to the
answers and headers of Django's full stack.
"""

import io
import json
import logging

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import OperationalError, close_old_connections
from django.test.utils import CaptureQueriesContext

from corrosion.wsgi import application
from licensing import plugin
from tests.factories import HostLicenseFactory

pytestmark = pytest.mark.django_db

URL = "/api/plugin/heartbeat"


@pytest.fixture(autouse=True)
def one_transaction():
    """As django.test.Client does: the test's transaction must survive the request signals."""
    plugin._blocked_until.clear()
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def call(app, body=None, *, method="POST", raw=None, content_type="application/json", **environ):
    data = raw if raw is not None else json.dumps(body).encode()
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": URL,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443",
        "HTTP_HOST": "testserver",
        "HTTP_X_FORWARDED_PROTO": "https",
        "REMOTE_ADDR": "192.0.2.7",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(data)),
        **environ,
    }
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    content = b"".join(app(env, start_response))
    headers = dict(answer["headers"])
    return int(answer["status"].split()[0]), headers, content


def full_stack():
    return WSGIHandler()


def never(environ, start_response):
    raise AssertionError("the route handed Django a request it should answer itself")


def route(environ, start_response):
    return plugin.heartbeat_wsgi(environ, start_response, never)


def _same(lean, full):
    (lean_status, lean_headers, lean_body), (full_status, full_headers, full_body) = lean, full
    assert lean_status == full_status
    assert lean_body == full_body
    lean_headers.pop("X-Request-ID"), full_headers.pop("X-Request-ID")
    assert lean_headers == full_headers


def test_an_accepted_heartbeat_is_answered_as_the_full_stack_answers_it():
    live, test_mode = HostLicenseFactory(), HostLicenseFactory(livemode=False, license__livemode=False)
    twin_live, twin_test = HostLicenseFactory(), HostLicenseFactory(livemode=False, license__livemode=False)
    for mine, twin in ((live, twin_live), (test_mode, twin_test)):
        lean = call(route, {"license_key": mine.license.license_key, "version": "2.4.1", "players": 3})
        full = call(full_stack(), {"license_key": twin.license.license_key, "version": "2.4.1", "players": 3})
        _same(lean, full)
        assert json.loads(lean[2]) == {"status": "active", "valid": True, "livemode": mine.livemode}
    live.refresh_from_db()
    assert (live.last_seen_at is not None, live.plugin_version, live.player_count) == (True, "2.4.1", 3)


@pytest.mark.parametrize(
    ("body", "raw", "content_type"),
    [
        ({"license_key": "CRN-00000-00000-00000-00000-00000-00000"}, None, "application/json"),  # unknown: 404
        ({"license_key": "not a key"}, None, "application/json"),  # malformed key: 404 without a query
        (None, b'{"license_key": ', "application/json"),  # malformed JSON: 400
        ({"license_key": 7, "players": -1}, None, "application/json"),  # invalid fields: 400
        ([1, 2], None, "application/json"),  # not an object: 400
        ({"license_key": "x"}, None, "text/plain"),  # not JSON: 415
        ({"license_key": "x"}, None, "application/json; charset=utf-8"),  # JSON with a charset: answered
    ],
)
def test_refusals_are_answered_as_the_full_stack_answers_them(body, raw, content_type):
    _same(
        call(route, body, raw=raw, content_type=content_type),
        call(full_stack(), body, raw=raw, content_type=content_type),
    )


def test_a_heartbeat_too_soon_is_429_with_retry_after_as_the_full_stack_says(frozen_clock):
    mine, twin = HostLicenseFactory(), HostLicenseFactory()
    call(route, {"license_key": mine.license.license_key})
    call(full_stack(), {"license_key": twin.license.license_key})
    lean = call(route, {"license_key": mine.license.license_key})
    full = call(full_stack(), {"license_key": twin.license.license_key})
    assert lean[0] == 429
    assert 1 <= int(lean[1]["Retry-After"]) <= 5
    _same(lean, full)


def test_the_application_serves_the_heartbeat_through_the_route(monkeypatch):
    host_license = HostLicenseFactory()
    monkeypatch.setattr(WSGIHandler, "__call__", never)  # Django's handler must not be reached
    status, _headers, content = call(application, {"license_key": host_license.license.license_key})
    assert (status, json.loads(content)) == (200, {"status": "active", "valid": True, "livemode": True})


@pytest.mark.parametrize(
    "environ",
    [
        {"method": "GET"},  # 405 from Django
        {"CONTENT_LENGTH": "abc"},  # 400 from RequestSizeLimitMiddleware
        {"CONTENT_LENGTH": str(2 * 1024 * 1024)},  # 413, unread
        {"HTTP_ORIGIN": "https://evil.example"},  # CORS is corsheaders' call
        {"HTTP_X_FORWARDED_PROTO": "http"},  # the https redirect
    ],
)
def test_anything_out_of_the_ordinary_is_handed_to_the_full_stack(settings, environ):
    settings.SECURE_SSL_REDIRECT = True
    handed = []

    def django(env, start_response):
        handed.append(env)
        return full_stack()(env, start_response)

    method = environ.pop("method", "POST")
    status, headers, _content = call(
        lambda e, s: plugin.heartbeat_wsgi(e, s, django), {"license_key": "x"}, method=method, **environ
    )
    assert len(handed) == 1
    assert status in (301, 400, 404, 405, 413)
    if status != 301:
        assert headers["Content-Type"] == "application/json"


def test_a_lost_database_is_503_with_retry_after(monkeypatch):
    def lost(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(plugin, "heartbeat_record", lost)
    status, headers, content = call(route, {"license_key": "CRN-AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF"})
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert json.loads(content)["error"]["code"] == "service_unavailable"


def test_the_unknown_key_limit_holds_and_real_keys_are_still_answered(settings, frozen_clock):
    settings.HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT = "2/min"
    host_license = HostLicenseFactory()
    guesses = [f"CRN-00000-00000-00000-00000-00000-{n:05d}" for n in range(3)]
    answers = [call(route, {"license_key": key}, REMOTE_ADDR="203.0.113.9") for key in guesses]
    assert [status for status, _, _ in answers] == [404, 404, 429]
    assert 1 <= int(answers[-1][1]["Retry-After"]) <= 60
    assert call(route, {"license_key": host_license.license.license_key}, REMOTE_ADDR="203.0.113.9")[0] == 200


def test_each_heartbeat_is_logged_once_with_its_request_id_and_never_its_key(caplog):
    host_license = HostLicenseFactory()
    key = host_license.license.license_key
    with caplog.at_level(logging.INFO, logger="corrosion.request"):
        _status, headers, _ = call(route, {"license_key": key}, HTTP_X_REQUEST_ID="lb-42")
    assert headers["X-Request-ID"] == "lb-42"
    lines = [record for record in caplog.records if record.name == "corrosion.request"]
    assert len(lines) == 1
    line = lines[0]
    assert (line.method, line.path, line.status, line.request_id) == ("POST", URL, 200, "lb-42")
    formatted = logging.getLogger().handlers[0].format(line) if logging.getLogger().handlers else str(vars(line))
    assert key not in formatted and key not in str(vars(line))


def test_a_hostile_request_id_is_replaced():
    host_license = HostLicenseFactory()
    _, headers, _ = call(route, {"license_key": host_license.license.license_key}, HTTP_X_REQUEST_ID='x" y=1')
    assert headers["X-Request-ID"] != 'x" y=1' and len(headers["X-Request-ID"]) == 32


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_and_the_heartbeat_answered(frozen_clock):
    """No SELECT 1 before the heartbeat (CONN_HEALTH_CHECKS' round trip): a reused connection the
    server has dropped fails on the statement itself, which is sent again on a new connection."""
    import psycopg
    from django.db import connection

    host_license = HostLicenseFactory()
    body = {"license_key": host_license.license.license_key}
    assert call(route, body)[0] == 200
    dropped = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [dropped])
    connection.health_check_done = False  # as at the start of the next request
    frozen_clock.shift(10)
    with CaptureQueriesContext(connection) as queries:
        status, _, content = call(route, body)
    assert (status, json.loads(content)["valid"]) == (200, True)
    assert connection.connection.info.backend_pid != dropped
    assert not [q for q in queries.captured_queries if q["sql"].strip().upper() == "SELECT 1"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_commits_asynchronously_and_only_itself(settings):
    """SET LOCAL: the heartbeat's own transaction skips the wait for the disk; the session does not."""
    from django.db import connection

    host_license = HostLicenseFactory()
    with CaptureQueriesContext(connection) as queries:
        assert call(route, {"license_key": host_license.license.license_key})[0] == 200
    assert "synchronous_commit" in queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    host_license.refresh_from_db()
    assert host_license.last_seen_at is not None  # committed: another transaction reads it

    settings.HEARTBEAT_SYNCHRONOUS_COMMIT = True
    other = HostLicenseFactory()
    with CaptureQueriesContext(connection) as queries:
        assert call(route, {"license_key": other.license.license_key})[0] == 200
    assert "synchronous_commit" not in queries.captured_queries[-1]["sql"]
