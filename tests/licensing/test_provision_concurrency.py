"""Races closed by the database, on PostgreSQL with real threads and connections."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from rest_framework.test import APIClient

from licensing.models import HostLicense, License

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

THREADS = 20


def _race(api_key, bodies):
    """POST each body from its own thread and connection, all released at the same moment."""
    barrier = threading.Barrier(len(bodies))
    results = [None] * len(bodies)

    def worker(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
        try:
            barrier.wait()
            response = client.post("/api/host/provision", bodies[index], format="json")
            results[index] = (response.status_code, response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_twenty_concurrent_provisions_of_one_new_server_create_one_license(api_key, settings):
    settings.HOST_API_RATE_LIMIT = "1000/min"
    body = {"server_id": "rust-race-01", "hostname": "race.acme.test", "customer_email": "racer@example.test"}
    results = _race(api_key, [body] * THREADS)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201]
    assert len({payload["id"] for _, payload in results}) == 1
    assert len({payload["license_key"] for _, payload in results}) == 1
    assert License.objects.count() == 1
    assert HostLicense.objects.filter(server_identifier="rust-race-01").count() == 1


def test_concurrent_bulk_calls_sharing_servers_and_a_new_customer_stay_consistent(api_key, settings):
    settings.HOST_API_RATE_LIMIT = "1000/min"
    servers = [
        {"server_id": f"rust-{n}", "hostname": f"play{n}.acme.test", "customer_email": "Same@Example.test"}
        for n in range(10)
    ]
    # Every thread sends the ten servers in a different order: overlapping all-or-nothing calls.
    bodies = [servers[i % 10 :] + servers[: i % 10] for i in range(THREADS)]
    results = _race(api_key, bodies)

    assert all(status in (200, 201) for status, _ in results), results
    assert sum(status == 201 for status, _ in results) >= 1
    assert License.objects.count() == 10
    assert get_user_model().objects.filter(username="same@example.test").count() == 1
    by_server = {}
    for _, payload in results:
        for row in payload:
            by_server.setdefault(row["server_id"], set()).add(row["id"])
    assert all(len(ids) == 1 for ids in by_server.values())


def test_overlapping_bulk_calls_over_different_subsets_never_fail(api_key, settings):
    """Partly overlapping all-or-nothing calls: each is whole, none is a 500, every server has one license."""
    import random

    settings.HOST_API_RATE_LIMIT = "1000/min"
    rng = random.Random(7)
    servers = [
        {"server_id": f"rust-{n:02d}", "hostname": f"play{n}.acme.test", "customer_email": f"c{n % 3}@example.test"}
        for n in range(30)
    ]
    bodies = [rng.sample(servers, rng.randint(5, 15)) for _ in range(24)]
    results = _race(api_key, bodies)

    assert all(status in (200, 201) for status, _ in results), [s for s, _ in results]
    used = {item["server_id"] for body in bodies for item in body}
    assert HostLicense.objects.count() == License.objects.count() == len(used)
    by_server = {}
    for (_, payload), body in zip(results, bodies, strict=True):
        assert [row["server_id"] for row in payload] == [item["server_id"] for item in body]
        for row in payload:
            by_server.setdefault(row["server_id"], set()).add(row["id"])
    assert all(len(ids) == 1 for ids in by_server.values())


def test_concurrent_provisions_for_one_new_customer_with_a_long_address_make_one_customer(api_key, settings):
    """Its lower-case form does not fit a username: found by its digest, as race-safe as a short one."""
    settings.HOST_API_RATE_LIMIT = "1000/min"
    local = "Gamer" + "İ" * 100
    bodies = [
        {
            "server_id": f"rust-{n}",
            "hostname": f"play{n}.acme.test",
            "customer_email": (local.upper() if n % 2 else local) + "@Example.test",
        }
        for n in range(THREADS)
    ]
    results = _race(api_key, bodies)

    assert sorted(status for status, _ in results) == [201] * THREADS
    customers = {License.objects.get(pk=payload["id"]).customer_id for _, payload in results}
    assert len(customers) == 1
    assert get_user_model().objects.filter(username__startswith="email-sha256:").count() == 1
