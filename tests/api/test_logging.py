"""Structured logs: JSON lines with a request id, and no secret in any of them.

Lines are read from stdout as the process writes them: logging is configured from
`settings.LOGGING_CONFIG` and `settings.LOGGING` exactly as Django configures it at start, with
stdout captured.
"""

import io
import json
import logging
import sys
import timeit
import warnings
from urllib.parse import quote

import pytest
from django.conf import settings
from django.utils.log import configure_logging
from rest_framework.test import APIClient

from corrosion.logging import redact
from hosts.keys import generate_key_id, generate_raw_key
from licensing.keys import generate_companion_token, generate_license_key
from licensing.models import License

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """Every line logging writes to stdout, configured exactly as Django configures it at start."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stdout, real_stdout = io.StringIO(), sys.stdout
    sys.stdout = stdout  # what the configured handler's "ext://sys.stdout" resolves to
    try:
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    finally:
        sys.stdout = real_stdout
    yield lambda: [json.loads(line) for line in stdout.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)


def test_each_request_logs_one_json_line_with_its_request_id(host_client, log_lines):
    response = host_client.get("/api/host/licenses", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    lines = [line for line in log_lines() if line["logger"] == "corrosion.request"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["request_id"], line["method"], line["path"], line["status"]) == (
        "abc-123",
        "GET",
        "/api/host/licenses",
        200,
    )
    assert line["key_id"] and line["duration_ms"] >= 0
    assert line["level"] == "INFO" and "time" in line


def test_a_missing_or_hostile_request_id_is_replaced(anon_client, log_lines):
    generated = anon_client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    hostile = anon_client.get("/healthz", HTTP_X_REQUEST_ID='x" injected=1 ' + "y" * 100)["X-Request-ID"]
    assert hostile != generated and len(hostile) == 32


def test_a_request_id_that_is_a_key_is_not_logged(anon_client, api_key, log_lines):
    """A client that sends its API key as X-Request-ID (a copy-paste slip) never sees it logged."""
    anon_client.get("/healthz", HTTP_X_REQUEST_ID=api_key)
    text = json.dumps(log_lines())
    assert "corrosion.request" in text
    assert api_key.split("_")[2] not in text


@pytest.mark.parametrize(
    ("path", "status", "client"),
    [
        ("/api/host/licenses?customer_email=someone%40example.test&online=magenta", 400, "host"),
        ("/api/host/licenses/00000000-0000-0000-0000-000000000000?customer_email=someone@example.test", 404, "host"),
        ("/api/host/licenses?customer_email=someone@example.test", 401, "anonymous"),
    ],
)
def test_djangos_warning_lines_carry_the_request_id_and_no_query_values(
    host_client, anon_client, log_lines, path, status, client
):
    """Django logs each 4xx itself, after the middleware that keeps the request id has returned,
    with the request as an extra field: that field carried the query string, customer e-mails
    included, and the line carried no request id."""
    response = (host_client if client == "host" else anon_client).get(path, HTTP_X_REQUEST_ID="req-4xx")
    assert response.status_code == status
    lines = log_lines()
    warnings = [line for line in lines if line["logger"] == "django.request"]
    assert len(warnings) == 1, lines
    assert warnings[0]["request_id"] == "req-4xx"
    assert warnings[0]["status_code"] == status
    assert warnings[0]["request"] == "GET " + path.split("?")[0]
    text = json.dumps(lines)
    assert "someone" not in text and "magenta" not in text


def test_no_key_token_or_authorization_header_reaches_any_log_line(host_client, api_key, log_lines):
    created = host_client.post(
        "/api/host/provision",
        {"server_id": "rust-1", "hostname": "play.test", "customer_email": "a@example.test"},
        format="json",
    ).json()
    license = License.objects.get(pk=created["id"])
    APIClient().post("/api/plugin/heartbeat", {"license_key": license.license_key}, format="json")
    APIClient().post("/api/plugin/heartbeat", {"license_key": "CRN-00000-00000-00000-00000-00000-00000"}, format="json")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[:-1]}X")
    bad.get("/api/host/licenses")
    # A key in the query string (it never belongs there, but a client may put it there):
    APIClient().get(f"/api/host/licenses/nope?key={api_key}&license={quote(license.license_key, safe='')}")
    # Code that logs a secret by mistake, e.g. an error quoting the SQL parameters:
    logging.getLogger("django.db").error(
        "duplicate key (license_key)=(%s) companion=%s auth=%s",
        license.license_key,
        license.companion_token,
        f"Authorization: Bearer {api_key}",
    )
    try:
        raise ValueError(f"boom {api_key} {license.license_key}")
    except ValueError:
        logging.getLogger("tests").exception("failed")

    text = json.dumps(log_lines())
    for secret in (api_key, api_key.split("_")[2], license.license_key, license.companion_token):
        assert secret not in text
    assert "[REDACTED]" in text


def test_warnings_are_logged_as_redacted_json_lines(log_lines):
    """Python prints warnings on stderr as plain text; the configured logging takes them instead."""
    key = generate_raw_key(generate_key_id())
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(False)  # pytest records warnings itself; let the configuration take them
        configure_logging(settings.LOGGING_CONFIG, {**settings.LOGGING, "handlers": {}, "root": {}})
        warnings.warn(f"deprecated call with {key}", UserWarning, stacklevel=1)
        logging.captureWarnings(False)
    lines = log_lines()
    assert [line["logger"] for line in lines] == ["py.warnings"]
    assert key.split("_")[2] not in json.dumps(lines)


# --- redact(): every form a secret can take in a line -------------------------------------------


def _key():
    return generate_raw_key(generate_key_id())


def _percent_all(text):
    return "".join(f"%{ord(c):02X}" for c in text)


API_KEY = _key()
TEST_KEY = "crn_test_" + API_KEY[4:]
LICENSE_KEY = generate_license_key()
COMPANION = generate_companion_token()
while "-" not in COMPANION and "_" not in COMPANION:  # so its encoded forms differ from it
    COMPANION = generate_companion_token()

ENCODED = {
    "plain": lambda s: s,
    "upper case": str.upper,
    "lower case": str.lower,
    "%-encoded separators": lambda s: s.replace("-", "%2D").replace("_", "%5F"),
    "%-encoded separators, lower-case hex": lambda s: s.replace("-", "%2d").replace("_", "%5f"),
    "fully %-encoded": _percent_all,
    "%-encoded twice": lambda s: s.replace("-", "%252D").replace("_", "%255F"),
    "python escapes": lambda s: s.replace("-", "\\x2d").replace("_", "\\x5f"),
    "json escapes": lambda s: s.replace("-", "\\u002d").replace("_", "\\u005f"),
    "html entities": lambda s: s.replace("-", "&#45;").replace("_", "&#x5f;"),
    "without separators": lambda s: s.replace("-", ""),
}
SECRETS = {"api key": API_KEY, "test api key": TEST_KEY, "license key": LICENSE_KEY, "companion token": COMPANION}
CONTEXTS = [
    "Invalid HTTP request line: 'GET /api/x?k={}\\x01 HTTP/1.1'",
    "Invalid HTTP Header: 'Authorization Bearer {}'",
    "Invalid HTTP Header: 'X-{}'",
    '{{"license_key": "{}"}}',
    "referer=https://example.test/?a=1&k={}#top",
    "{}",
]


def _pieces(secret):
    """The secret's random part (not an API key's key id), in runs of 8 characters, lower-cased: none may survive anywhere."""
    body = secret.rsplit("_", 1)[1] if secret.startswith("crn_") else secret.removeprefix("CRN-")
    body = "".join(c for c in body if c.isalnum()).lower()
    return {body[i : i + 8] for i in range(0, len(body) - 7, 4)}


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(
    ("kind", "encoding"),
    # Only license keys are grouped by separators a person may drop.
    [
        (kind, encoding)
        for kind in SECRETS
        for encoding in ENCODED
        if encoding != "without separators" or kind == "license key"
    ],
)
def test_redaction_catches_every_encoding_of_every_secret(kind, encoding, context):
    secret = SECRETS[kind]
    line = context.format(ENCODED[encoding](secret))
    redacted = redact(line)
    assert "[REDACTED]" in redacted
    flat = redacted.lower()
    # Decoded the same ways, the line holds no piece of the secret either.
    for piece in _pieces(secret):
        assert piece not in flat, (line, redacted)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("key crn_abcd1234_" + "A" * 43, "crn_abcd1234_[REDACTED]"),
        ("CRN-ABCDE-FGHJK-MNPQR-STVWX-YZ012-34567 is bad", "CRN-[REDACTED] is bad"),
        ('{"Authorization": "Bearer xyz"}', '"Authorization": "[REDACTED]'),
        ("Cookie: sessionid=abcdefgh12345678; csrftoken=zyx", "Cookie: sessionid=[REDACTED]; csrftoken=[REDACTED]"),
        ("path /api/host/licenses/2b0c6c0e-2a3f-4e8b-9b7e-8f1b2c3d4e5f", "2b0c6c0e-2a3f-4e8b-9b7e-8f1b2c3d4e5f"),
        ("GET /api/host/licenses?customer_email=a%40b.test&page_size=5", "?customer_email=[REDACTED]&page_size="),
        ("request GET /api/host/billing/2026-05 200 in 3.2 ms", "request GET /api/host/billing/2026-05 200 in 3.2 ms"),
        ("/static/admin/css/vendor/select2/select2.min.css", "/static/admin/css/vendor/select2/select2.min.css"),
    ],
)
def test_redaction_cuts_secrets_and_keeps_ids(raw, kept):
    assert kept in redact(raw)


def test_redaction_is_cheap_on_an_ordinary_line():
    """The formatter runs on every request line; an ordinary one must cost microseconds."""
    line = "/api/host/licenses/2b0c6c0e-2a3f-4e8b-9b7e-8f1b2c3d4e5f"
    per_call = min(timeit.repeat(lambda: redact(line), number=2000, repeat=3)) / 2000
    assert per_call < 50e-6, per_call
