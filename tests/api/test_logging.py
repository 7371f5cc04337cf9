"""Structured logs: JSON lines with a request id, and no secret in any of them."""

import io
import json
import logging

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from corrosion.logging import RedactingJsonFormatter, RequestIdFilter, redact
from licensing.models import License

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """The root logger's output, formatted exactly as production formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = dict(settings.LOGGING["formatters"]["json"])
    formatter.pop("()")
    handler.setFormatter(RedactingJsonFormatter(**formatter))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
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


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("key crn_abcd1234_" + "A" * 43, "crn_abcd1234_[REDACTED]"),
        ("CRN-ABCDE-FGHJK-MNPQR-STVWX-YZ012-34567 is bad", "CRN-[REDACTED] is bad"),
        ('{"Authorization": "Bearer xyz"}', '"Authorization": "[REDACTED]'),
        ("path /api/host/licenses/2b0c6c0e-2a3f-4e8b-9b7e-8f1b2c3d4e5f", "2b0c6c0e-2a3f-4e8b-9b7e-8f1b2c3d4e5f"),
    ],
)
def test_redaction_cuts_secrets_and_keeps_ids(raw, kept):
    assert kept in redact(raw)
