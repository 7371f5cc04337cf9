"""What the issue asks to hold on every request, checked in-process against the seeded database.

- No password hasher runs on any request path: every hasher's encode/verify is counted while a
  request of each kind goes through the full middleware stack.
- A key check is one indexed lookup: the queries an authenticated request makes before its
  view's own, and the plan of the key's query.
- The license list reads an index range, however deep the page: the plans of a first and a deep page.
"""

import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from unittest import mock

from django.contrib.auth.hashers import get_hashers
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from corrosion.api import pagination
from hosts.models import Host, HostAPIKey
from licensing.selectors import licenses_for_host


@dataclass(frozen=True)
class Checks:
    requests: int
    hasher_calls: int
    key_check_queries: int
    key_check_plan: str
    list_plans: dict  # page name -> (the index its plan reads, rows it read and threw away)


def _hasher_counter(stack):
    calls = []
    for hasher in get_hashers():
        for method in ("encode", "verify", "harden_runtime"):
            original = getattr(type(hasher), method)

            def counted(self, *args, _original=original, **kwargs):
                calls.append(type(self).__name__)
                return _original(self, *args, **kwargs)

            stack.enter_context(mock.patch.object(type(hasher), method, counted))
    return calls


def _requests(client, *, host_key, license_key, month):
    """One request of every kind a client can send, as (method, path, body)."""
    auth = {"HTTP_AUTHORIZATION": f"Bearer {host_key}"}
    server = f"check-{uuid.uuid4().hex[:12]}"
    created = client.post(
        "/api/host/provision",
        {"server_id": server, "hostname": "check.example", "customer_email": f"{server}@bench.test"},
        content_type="application/json",
        **auth,
    )
    license_id = created.json()["id"]
    return [
        created,
        client.post(
            "/api/host/provision",
            [
                {"server_id": f"{server}-{n}", "hostname": "check.example", "customer_email": "player0@bench.test"}
                for n in range(3)
            ],
            content_type="application/json",
            **auth,
        ),
        client.get("/api/host/licenses", {"page_size": 100}, **auth),
        client.get(f"/api/host/licenses/{license_id}", **auth),
        client.patch(
            f"/api/host/licenses/{license_id}", {"hostname": "moved.example"}, content_type="application/json", **auth
        ),
        client.post(f"/api/host/licenses/{license_id}/suspend", **auth),
        client.post(f"/api/host/licenses/{license_id}/resume", **auth),
        client.post(f"/api/host/licenses/{license_id}/terminate", **auth),
        client.get("/api/host/billing", **auth),
        client.get(f"/api/host/billing/{month}", **auth),
        client.get("/api/host/licenses", HTTP_AUTHORIZATION="Bearer crn_aaaaaaaa_" + "x" * 43),
        client.post("/api/plugin/heartbeat", {"license_key": license_key}, content_type="application/json"),
        client.get("/healthz"),
        client.get("/readyz"),
    ]


def _list_plan(client, host_key, params):
    """The executed plan of the license query a list request really makes."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/host/licenses", params, HTTP_AUTHORIZATION=f"Bearer {host_key}")
    if response.status_code != 200:
        raise RuntimeError(f"list request failed: {response.status_code} {response.content[:200]}")
    (sql,) = [q["sql"] for q in queries.captured_queries if 'FROM "host_licenses"' in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ANALYZE {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _rows_filtered(plan):
    """Rows an index scan read and threw away: a keyset page should throw away next to none."""
    return sum(int(line.split(":")[1]) for line in plan.splitlines() if "Rows Removed by Filter" in line)


def _scan_of(plan, table):
    """How a plan reads `table`: "Index Scan using ... on ...", or "Seq Scan on ..." (tiny tables)."""
    for line in plan.splitlines():
        if f" on {table}" in line:
            return line.strip().removeprefix("->").strip().split("  (")[0]
    return plan.splitlines()[0]


def _index_of(plan):
    """The first index a plan reads, or its scan of the whole table ("Seq Scan on ...")."""
    for line in plan.splitlines():
        if " using " in line:
            return line.split(" using ", 1)[1].split(" ", 1)[0]
    for line in plan.splitlines():
        if "Seq Scan" in line:
            return line.strip().lstrip("-> ").split("  (")[0]
    return plan.splitlines()[0]


def run(*, host_key, whale_id, whale_key, license_key, month):
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")  # as the TLS proxy sends it
    with ExitStack() as stack:
        calls = _hasher_counter(stack)
        responses = _requests(client, host_key=host_key, license_key=license_key, month=month)
    unexpected = [(r.request["PATH_INFO"], r.status_code) for r in responses if r.status_code >= 500]
    if unexpected:
        raise RuntimeError(f"check requests failed: {unexpected}")

    # An authenticated request whose view makes one query: whatever else it makes is the key check.
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/host/licenses", {"page_size": 1}, HTTP_AUTHORIZATION=f"Bearer {host_key}")
    key_queries = [q for q in queries.captured_queries if "host_api_keys" in q["sql"]]
    key_id = host_key.split("_")[1]
    key_plan = HostAPIKey.objects.select_related("host").filter(key_id=key_id).explain()

    whale = Host.objects.get(pk=whale_id)
    newest_first = licenses_for_host(host=whale, livemode=True).order_by("-provisioned_at", "-license_id")
    middle = newest_first.values_list("provisioned_at", "license_id")[whale.host_licenses.count() // 2]
    plans = {
        "first page": _list_plan(client, whale_key, {"page_size": 100}),
        "middle page": _list_plan(client, whale_key, {"page_size": 100, "cursor": pagination._encode("n", *middle)}),
    }
    return Checks(
        requests=len(responses) + 1,
        hasher_calls=len(calls),
        key_check_queries=len(key_queries),
        key_check_plan=_scan_of(key_plan, "host_api_keys"),
        list_plans={name: (_index_of(plan), _rows_filtered(plan)) for name, plan in plans.items()},
    )
