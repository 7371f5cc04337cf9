"""What gunicorn answers itself, before Django sees the request: the contract's JSON too."""

import pytest

from tests.faults.support import app_server

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_app_servers_own_refusals_are_json():
    """Found by fuzzing: a cursor of 5,000 characters got gunicorn's HTML 414 page."""
    with app_server() as server:
        too_long = server.call("GET", "/api/host/licenses?cursor=" + "x" * 5000)
        huge_header = server.call("GET", "/healthz", headers={"X-Filler": "x" * 9000})
    for response, status, code in ((too_long, 414, "uri_too_long"), (huge_header, 431, "headers_too_large")):
        assert response.status == status, response
        assert response.headers["content-type"] == "application/json", response
        assert response.json()["error"]["code"] == code
        assert b"<html" not in response.body
