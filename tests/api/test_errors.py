"""Whatever goes wrong, a client reads the contract's JSON error body, never HTML."""

import pytest
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.urls import path
from rest_framework.test import APIClient
from rest_framework.views import APIView


class _Boom(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise RuntimeError("a bug")


class _DatabaseDown(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise OperationalError("connection refused")


def _plain_database_down(request):
    raise OperationalError("connection refused")


def _healthy(request):
    return JsonResponse({"status": "ok"})


class DatabaseDownBeforeTheView:
    """A middleware that needs the database before the view runs (as a session lookup does)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise InterfaceError("connection already closed")


class DatabaseDownAfterTheView:
    """A middleware that writes after the view (as a modified session's save does)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.get_response(request)
        raise OperationalError("server closed the connection unexpectedly")


urlpatterns = [
    path("boom", _Boom.as_view()),
    path("db-down", _DatabaseDown.as_view()),
    path("plain-db-down", _plain_database_down),
    path("healthy", _healthy),
]
handler500 = "corrosion.api.views.server_error"


def _assert_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/nope", "/api/host/nope", "/api/host/licenses/not-a-uuid"])
def test_an_unknown_path_is_a_json_404(path):
    _assert_error(APIClient().get(path), 404, "not_found")


@pytest.mark.django_db
def test_a_wrong_method_is_a_json_405(host_client):
    response = host_client.delete("/api/host/licenses")
    _assert_error(response, 405, "method_not_allowed")
    # whatever representation it asks for (found by fuzzing: this was a 406)
    _assert_error(host_client.generic("TRACE", "/api/host/billing/2026-01?format=0"), 405, "method_not_allowed")
    _assert_error(host_client.delete("/api/host/licenses", HTTP_ACCEPT="image/png"), 405, "method_not_allowed")
    _assert_error(APIClient().post("/healthz"), 405, "method_not_allowed")


def test_an_unexpected_error_is_a_json_500(settings):
    settings.ROOT_URLCONF = __name__
    client = APIClient(raise_request_exception=False)
    _assert_error(client.get("/boom"), 500, "server_error")


@pytest.mark.parametrize("path", ["/db-down", "/plain-db-down"])
def test_a_database_outage_is_a_json_503_with_retry_after(settings, path):
    settings.ROOT_URLCONF = __name__
    response = APIClient(raise_request_exception=False).get(path)
    _assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize("middleware", ["DatabaseDownBeforeTheView", "DatabaseDownAfterTheView"])
def test_a_database_outage_in_a_middleware_is_a_json_503_too(settings, middleware):
    """Outside a view, process_exception never runs: Django's 500 handler must tell a lost database apart."""
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.{middleware}"]
    response = APIClient(raise_request_exception=False).get("/healthy")
    _assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_a_body_over_the_limit_is_413_and_not_read(host_client, settings):
    settings.MAX_REQUEST_BYTES = 100
    response = host_client.generic("GET", "/api/host/licenses", "x" * 101, content_type="application/json")
    _assert_error(response, 413, "request_too_large")


def test_healthz_answers_without_the_database():
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_when_the_database_does():
    response = APIClient().get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/host/licenses?format=xml", {}),
        ("/api/host/billing/2026-01?format=AAA", {}),
        ("/api/host/billing/2026-01?format=", {}),
        ("/api/host/licenses", {"HTTP_ACCEPT": "application/xml"}),
        ("/api/host/billing/2026-01", {"HTTP_ACCEPT": "application/pdf"}),
    ],
)
def test_a_representation_the_view_does_not_have_is_a_json_406(host_client, path, headers):
    """DRF's own answer to an unknown ?format= is a 404, as if the resource were missing, and to an empty one
    JSON, though `format` names json or csv (both found by fuzzing)."""
    _assert_error(host_client.get(path, **headers), 406, "not_acceptable")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/host/billing/0?format=0", {}),
        ("/api/host/licenses?format=xml", {}),
        ("/api/host/licenses", {"HTTP_ACCEPT": "application/xml"}),
        ("/api/host/billing", {"HTTP_AUTHORIZATION": "Bearer crn_nope", "HTTP_ACCEPT": "image/png"}),
    ],
)
def test_a_request_without_a_valid_key_is_401_whatever_representation_it_asks_for(path, headers):
    """DRF negotiates before it authenticates: this was a 406 (found by fuzzing)."""
    response = APIClient().get(path, **headers)
    _assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"] == "Bearer"
