"""Request limits every host endpoint shares: content type, size, rate, CORS."""

import io
import json

import pytest

from corrosion.api.exceptions import RequestTooLarge
from corrosion.api.parsers import LimitedJSONParser
from licensing.models import License

pytestmark = pytest.mark.django_db

PROVISION = "/api/host/provision"
ITEM = {"server_id": "rust-1", "hostname": "play.acme.test", "customer_email": "a@example.test"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("server_id=rust-1", "application/x-www-form-urlencoded"),
        ("server_id,hostname\nrust-1,x", "text/csv"),
        (json.dumps(ITEM), "text/plain"),
        ("<xml/>", "application/xml"),
    ],
)
def test_a_body_that_is_not_json_is_415(host_client, body, content_type):
    response = host_client.generic("POST", PROVISION, body, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert License.objects.count() == 0


def test_a_multipart_body_is_415(host_client):
    response = host_client.post(PROVISION, {"file": io.BytesIO(b"x")}, format="multipart")
    assert response.status_code == 415


@pytest.mark.parametrize(
    "body",
    [
        '{"server_id": ',
        "not json",
        "{'single': 'quotes'}",
        "[" * 100_000,
        "NaN",
        '{"a": Infinity}',
        '{"server_id": "\\ud800", "hostname": "h", "customer_email": "a@b.test"}',
        b'{"server_id": "\xff\xfe"}',
    ],
)
def test_malformed_json_is_400(host_client, body):
    response = host_client.generic("POST", PROVISION, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_a_body_over_max_request_bytes_is_413_and_writes_nothing(host_client, settings):
    settings.MAX_REQUEST_BYTES = 1000
    items = [dict(ITEM, server_id=f"rust-{n}") for n in range(40)]
    response = host_client.generic("POST", PROVISION, json.dumps(items), content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert License.objects.count() == 0


def test_the_parser_stops_reading_at_the_limit_without_a_content_length(settings):
    """Defence in depth behind the Content-Length check: a stream longer than the limit is refused."""
    settings.MAX_REQUEST_BYTES = 1000
    stream = io.BytesIO(json.dumps([dict(ITEM, server_id=f"rust-{n}") for n in range(40)]).encode())
    with pytest.raises(RequestTooLarge):
        LimitedJSONParser().parse(stream)
    assert stream.tell() == 1001


def test_the_host_rate_limit_answers_429_with_retry_after(host_client, settings, frozen_clock):
    settings.HOST_API_RATE_LIMIT = "3/min"
    statuses = [host_client.get("/api/host/licenses").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    response = host_client.get("/api/host/licenses")
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_the_rate_limit_is_per_host(host_client, other_host_client, settings, frozen_clock):
    settings.HOST_API_RATE_LIMIT = "2/min"
    for _ in range(3):
        host_client.get("/api/host/licenses")
    assert host_client.get("/api/host/licenses").status_code == 429
    assert other_host_client.get("/api/host/licenses").status_code == 200


def test_a_down_rate_limit_cache_lets_requests_through_and_logs_it(host_client, settings, caplog, frozen_clock):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    settings.HOST_API_RATE_LIMIT = "1/min"
    assert [host_client.get("/api/host/licenses").status_code for _ in range(3)] == [200, 200, 200]
    assert "rate-limit cache unavailable" in caplog.text


def test_readyz_reports_a_down_cache_but_stays_ready(settings, anon_client):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = anon_client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "unavailable"}


def test_cors_is_closed_to_unlisted_origins(host_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://partner.example"]
    response = host_client.options(
        "/api/host/licenses", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "access-control-allow-origin" not in response.headers
    response = host_client.get("/api/host/licenses", HTTP_ORIGIN="https://evil.example")
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_a_listed_origin(host_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://partner.example"]
    response = host_client.options(
        "/api/host/licenses", HTTP_ORIGIN="https://partner.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert response["access-control-allow-origin"] == "https://partner.example"
