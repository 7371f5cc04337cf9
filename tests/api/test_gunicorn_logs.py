"""Everything the app server writes is redacted: gunicorn's own error and access logs included.

gunicorn refuses a malformed request before Django sees it and logs why, quoting the request line
or the header it could not parse: a header without its colon (`Authorization Bearer crn_...`) or a
request line with a control character wrote the whole key. Here gunicorn runs from the repository's
gunicorn.conf.py, malformed requests go in on raw sockets, and every byte it printed, on stdout
and stderr, is searched for the secrets.

The server needs no database for these requests, so it runs on a throwaway SQLite file whatever the
suite's database is.
"""

import json
import re
import socket
import time
from urllib.parse import quote

import pytest

from hosts.keys import generate_key_id, generate_raw_key
from licensing.keys import generate_companion_token, generate_license_key
from tests.faults.support import app_server

pytestmark = pytest.mark.slow


def _license_key():
    """A license key each of whose groups holds a letter, so no group can pass for a hex request id."""
    while True:
        key = generate_license_key()
        if all(re.search("[G-Z]", group) for group in key.split("-")[1:]):
            return key


def _raw(server, request: bytes):
    """One request on a raw socket, exactly these bytes, and whatever the server answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _pieces(secret):
    """Runs of 8 characters of the secret's random part, lower-cased: none may appear, in any case."""
    body = secret.rsplit("_", 1)[1] if secret.startswith("crn_") else secret.removeprefix("CRN-")
    body = "".join(c for c in body if c.isalnum()).lower()
    return {body[i : i + 8] for i in range(0, len(body) - 7, 4)}


def _wait_for(server, predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(server.output(limit=10**7)):
            return
        time.sleep(0.1)
    raise AssertionError(server.output())


def test_nothing_gunicorn_writes_holds_a_secret(tmp_path):
    api_key = generate_raw_key(generate_key_id())
    license_key = _license_key()
    companion = generate_companion_token()
    email = "someone.private@example.test"
    encoded_license = license_key.replace("-", "%2D")
    requests = [
        # A header without its colon: gunicorn quotes the whole header in its error line.
        f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization Bearer {api_key}\r\n\r\n",
        # A key in a header gunicorn refuses: it quotes the header's name upper-cased.
        f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-{api_key}: 1\x01\r\n\r\n",
        # A control character in the request line: gunicorn quotes the whole line.
        f"GET /api/host/licenses?key={api_key}\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        f"POST /api/plugin/heartbeat?license_key={encoded_license}\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        f"POST /api/plugin/heartbeat?license_key={encoded_license.lower()}\x7f HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        f"GET /api/host/licenses?key={api_key.replace('_', '%5F')}\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        f"GET /api/host/licenses?key={api_key.replace('_', '%5f')}\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        f"GET /x?token={quote(companion, safe='').replace('-', '%2D').replace('_', '%5F')}\x01 HTTP/1.1\r\n\r\n",
        f"GET /x?token={companion}&license={license_key.replace('-', '%252D')}\x01 HTTP/1.1\r\n\r\n",
        f"GET /api/host/licenses?customer_email={email}\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        # Well-formed requests that reach the app, carrying secrets where they never belong: the
        # app's lines, Django's 4xx warnings and gunicorn's access lines all see them.
        f"GET /api/host/licenses?customer_email={quote(email)}&key={api_key} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-Request-ID: req-secrets-1\r\nReferer: https://example.test/?k={encoded_license}\r\nConnection: close\r\n\r\n",
        f"GET /api/host/licenses/{license_key} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ]
    malformed = len(requests) - 2

    with app_server(
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        GUNICORN_LOG_LEVEL="debug",
        GUNICORN_ACCESSLOG="-",
        REQUEST_LOG_LEVEL="INFO",
    ) as server:
        answers = [_raw(server, request.encode("latin-1")) for request in requests]
        _wait_for(server, lambda text: text.count("Invalid request from") >= malformed and "req-secrets-1" in text)
        written = server.output(limit=10**7)

    assert all(answer.startswith(b"HTTP/1.1 4") for answer in answers), answers
    flat = written.lower()
    for secret in (api_key, license_key, companion):
        leaked = [piece for piece in _pieces(secret) if piece in flat]
        assert not leaked, (secret, leaked, written)
    assert email.split("@")[0] not in flat

    lines = written.splitlines()
    # Every line is one JSON object, gunicorn's own included, so every line went through the formatter.
    records = [json.loads(line) for line in lines]
    loggers = {record["logger"] for record in records}
    assert {"gunicorn.error", "gunicorn.access", "corrosion.request", "django.request"} <= loggers, loggers
    assert sum("Invalid request from" in record["message"] for record in records) == malformed

    # Django's warning for the 401 carries its request's id, like every line of that request.
    warning = next(r for r in records if r["logger"] == "django.request")
    assert warning["request_id"] == "req-secrets-1"
    assert warning["request"] == "GET /api/host/licenses"


def test_the_default_bind_is_the_loopback_address(monkeypatch):
    """With CLIENT_IP_HEADER set, whoever reaches gunicorn directly chooses their own address:
    only the proxy in front may, so by default gunicorn listens on the loopback address only."""
    import runpy

    from tests.faults.support import REPO

    monkeypatch.delenv("GUNICORN_BIND", raising=False)
    assert runpy.run_path(str(REPO / "gunicorn.conf.py"))["bind"] == "127.0.0.1:8000"
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:9000")
    assert runpy.run_path(str(REPO / "gunicorn.conf.py"))["bind"] == "0.0.0.0:9000"
