"""Every answer that carries a license key or companion token tells caches not to keep it."""

import pytest

pytestmark = pytest.mark.django_db

ITEM = {"server_id": "rust-1", "hostname": "play.acme.test", "customer_email": "gamer@example.test"}


@pytest.fixture
def license_id(host_client):
    return host_client.post("/api/host/provision", ITEM, format="json").json()["id"]


def _assert_no_store(response, status):
    assert response.status_code == status
    assert response["Cache-Control"] == "no-store"


def test_provisioning_says_no_store(host_client):
    _assert_no_store(host_client.post("/api/host/provision", ITEM, format="json"), 201)
    _assert_no_store(host_client.post("/api/host/provision", ITEM, format="json"), 200)  # a retry
    bulk = [dict(ITEM, server_id="rust-2"), dict(ITEM, server_id="rust-3")]
    _assert_no_store(host_client.post("/api/host/provision", bulk, format="json"), 201)


def test_the_list_and_the_detail_say_no_store(host_client, license_id):
    _assert_no_store(host_client.get("/api/host/licenses"), 200)
    _assert_no_store(host_client.get(f"/api/host/licenses/{license_id}"), 200)


def test_an_edit_says_no_store(host_client, license_id):
    response = host_client.patch(f"/api/host/licenses/{license_id}", {"hostname": "new.acme.test"}, format="json")
    _assert_no_store(response, 200)


@pytest.mark.parametrize("action", ["suspend", "resume", "terminate"])
def test_each_status_change_says_no_store(host_client, license_id, action):
    if action == "resume":
        host_client.post(f"/api/host/licenses/{license_id}/suspend")
    _assert_no_store(host_client.post(f"/api/host/licenses/{license_id}/{action}"), 200)
