"""The database goes away under a running app, and comes back (issue 8, part 1).

One gunicorn runs the app against PostgreSQL through a TCP proxy the tests control. While the
proxy is cut, every endpoint that needs the database answers 503 with the JSON error body and
Retry-After (never a 500, an HTML page or a dropped connection); /healthz stays 200. Once the
proxy is restored the same processes serve again: no restart, no worker killed for hanging.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from hosts.services import host_create
from licensing.models import HostLicense
from licensing.services import ProvisionItem, license_provision
from tests.faults.support import NO_RATE_LIMITS, app_server, assert_database_unavailable, database_url, tcp_proxy

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONNECT_TIMEOUT = 2
ADMIN_AUTOCOMPLETE = "/admin/autocomplete/?app_label=licensing&model_name=hostlicense&field_name=host"
ITEM = {"server_id": "rust-outage-01", "hostname": "play.outage.test", "customer_email": "gamer@outage.test"}


@pytest.fixture(scope="module")
def proxied_app(django_db_setup):
    """The proxy and the app behind it, shared by the module's tests (one gunicorn start)."""
    with (
        tcp_proxy(int(connection.settings_dict["PORT"] or 5432)) as proxy,
        app_server(
            DATABASE_URL=database_url(port=proxy.port),
            DATABASE_CONNECT_TIMEOUT=CONNECT_TIMEOUT,
            **NO_RATE_LIMITS,
        ) as server,
    ):
        yield proxy, server


@pytest.fixture
def world(django_user_model):
    """A host with a key and a license, and a staff session: what the endpoints below need."""
    actor = Actor.command("tests")
    host, issued = host_create(company_name="Outage Hosting", contact_email="ops@outage.test", actor=actor)
    [result] = license_provision(host=host, items=[ProvisionItem(**ITEM)], actor=actor, livemode=True)
    staff = django_user_model.objects.create_superuser("outage-staff", "staff@outage.test", "pw-for-tests-only")
    browser = Client()
    browser.force_login(staff)
    return {
        "host": host,
        "key": issued.raw_key,
        "auth": {"Authorization": f"Bearer {issued.raw_key}"},
        "license_id": str(result.host_license.license_id),
        "license_key": result.host_license.license.license_key,
        "session": browser.cookies["sessionid"].value,
    }


def endpoints(world):
    """(name, method, path, body, headers, status while the database is up) for every kind of endpoint."""
    auth = world["auth"]
    license_path = f"/api/host/licenses/{world['license_id']}"
    unknown_key = "CRN-00000-00000-00000-00000-00000-00000"
    month = f"{timezone.now():%Y-%m}"  # the host was created this month: an earlier one has no bill (404)
    return [
        ("licenses list", "GET", "/api/host/licenses", None, auth, 200),
        ("license detail", "GET", license_path, None, auth, 200),
        ("license edit", "PATCH", license_path, {"hostname": ITEM["hostname"]}, auth, 200),
        ("provision (a retry)", "POST", "/api/host/provision", ITEM, auth, 200),
        ("bulk provision (a retry)", "POST", "/api/host/provision", [ITEM], auth, 200),
        ("suspend", "POST", f"{license_path}/suspend", None, auth, None),
        ("resume", "POST", f"{license_path}/resume", None, auth, None),
        ("terminate", "POST", f"{license_path}/terminate", None, auth, None),
        ("bills list", "GET", "/api/host/billing", None, auth, 200),
        ("bill JSON", "GET", f"/api/host/billing/{month}", None, auth, 200),
        ("bill CSV", "GET", f"/api/host/billing/{month}?format=csv", None, auth, 200),
        ("heartbeat", "POST", "/api/plugin/heartbeat", {"license_key": world["license_key"]}, {}, 200),
        ("heartbeat, unknown key", "POST", "/api/plugin/heartbeat", {"license_key": unknown_key}, {}, 404),
        ("readyz", "GET", "/readyz", None, {}, 200),
        # The admin's JSON autocomplete: its pages need collected static files the subprocess has not got.
        ("admin, staff session", "GET", ADMIN_AUTOCOMPLETE, None, {"Cookie": f"sessionid={world['session']}"}, 200),
    ]


def assert_up(server, world):
    for name, method, path, body, headers, expected in endpoints(world):
        if expected is not None:
            response = server.call(method, path, body=body, headers=headers)
            assert response.status == expected, (name, response)


def wait_until_serving(server, world, timeout=30):
    """Until a host call that needs the database succeeds again; every answer meanwhile is the 503."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = server.call("GET", "/api/host/licenses", headers=world["auth"])
        if response.status == 200:
            return
        assert_database_unavailable(response, "licenses list while recovering")
        time.sleep(0.1)
    raise AssertionError("the app did not serve again after the database came back")


def test_every_endpoint_is_a_json_503_while_the_database_refuses_and_serves_again_after(proxy, server, world):
    assert_up(server, world)

    proxy.cut("refuse")
    calls = 0
    # Three rounds: each of the worker's threads meets its dead connection, then refused new ones.
    for _ in range(3):
        for name, method, path, body, headers, _ in endpoints(world):
            assert_database_unavailable(server.call(method, path, body=body, headers=headers), name)
            calls += 1
        assert server.call("GET", "/healthz").status == 200
    assert server.call("GET", "/api/schema/?format=json").status == 200  # needs no database
    print(f"\n[outage: refused] {calls} calls to {len(endpoints(world))} endpoints: every one a JSON 503")

    proxy.restore()
    wait_until_serving(server, world)
    assert_up(server, world)


def test_a_database_that_stops_answering_is_a_503_within_the_connect_timeout(proxy, server, world):
    assert_up(server, world)

    proxy.cut("blackhole")
    calls = [("licenses list", "GET", "/api/host/licenses", None, world["auth"])]
    calls.append(("heartbeat", "POST", "/api/plugin/heartbeat", {"license_key": world["license_key"]}, {}))
    calls.append(("readyz", "GET", "/readyz", None, {}))

    def timed(name, method, path, body, headers):
        started = time.monotonic()
        response = server.call(method, path, body=body, headers=headers, timeout=60)
        return name, response, time.monotonic() - started

    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda c: timed(*c), calls))
    for name, response, seconds in results:
        assert_database_unavailable(response, name)
        # Well under gunicorn's 30 s worker timeout: the connect timeout ends the wait, not a kill.
        assert seconds < 3 * CONNECT_TIMEOUT + 2, (name, seconds)
    print(f"\n[outage: blackhole] {len(results)} calls, JSON 503 after {[round(s, 1) for _, _, s in results]} s")

    proxy.restore()
    wait_until_serving(server, world)
    assert_up(server, world)


def test_calls_in_flight_when_the_database_drops_get_200_or_503_and_write_all_or_nothing(proxy, server, world):
    """Cut while three clients keep calling, provisioning among them: whatever a call was doing when
    its connection died, it answers 200/201 or the JSON 503, and its bulk is written whole or not at all."""
    stop = threading.Event()
    results, bulks = [], []
    lock = threading.Lock()

    def client(n):
        i = 0
        while not stop.is_set():
            i += 1
            server_ids = [f"inflight-{n}-{i:04d}-{k:02d}" for k in range(10)]
            bulk = [{**ITEM, "server_id": server_id} for server_id in server_ids]
            for kind, method, path, body, headers in (
                ("list", "GET", "/api/host/licenses", None, world["auth"]),
                ("heartbeat", "POST", "/api/plugin/heartbeat", {"license_key": world["license_key"]}, {}),
                ("provision", "POST", "/api/host/provision", bulk, world["auth"]),
            ):
                try:
                    response = server.call(method, path, body=body, headers=headers)
                except Exception as exc:  # a dropped or garbled answer: the one outcome never allowed
                    response = exc
                with lock:
                    results.append((kind, response))
                    if kind == "provision":
                        bulks.append((bulk, response))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.7)
        proxy.cut("refuse")
        time.sleep(1.0)
        proxy.restore()
        wait_until_serving(server, world)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    unavailable = 0
    for kind, response in results:
        assert not isinstance(response, Exception), (kind, response)
        if response.status == 503:
            assert_database_unavailable(response, kind)
            unavailable += 1
        elif kind == "heartbeat" and response.status == 429:
            assert response.headers["retry-after"]  # two clients' beats of one license, closer than its limit
        else:
            assert response.status in (200, 201), (kind, response)
    assert unavailable, "the cut was never seen: no call answered 503"

    # A 201 wrote its ten licenses; a 503 wrote none, or all ten when only the COMMIT's reply was
    # lost. A retry of each then gives the ten licenses, once.
    written = {"201 and whole": 0, "503 and nothing": 0, "503 but whole (commit reply lost)": 0}
    for bulk, response in bulks:
        server_ids = [item["server_id"] for item in bulk]
        count = HostLicense.objects.filter(host=world["host"], server_identifier__in=server_ids).count()
        events = AuditEvent.objects.filter(action="license.provisioned", data__server_id__in=server_ids).count()
        assert count == events and count in (0, 10), (response, count, events)
        if response.status == 201:
            assert count == 10
            written["201 and whole"] += 1
        else:
            written["503 and nothing" if count == 0 else "503 but whole (commit reply lost)"] += 1
            retry = server.call("POST", "/api/host/provision", body=bulk, headers=world["auth"])
            assert retry.status == (201 if count == 0 else 200), retry
            assert HostLicense.objects.filter(host=world["host"], server_identifier__in=server_ids).count() == 10
    print(f"\n[outage: in flight] {len(results)} calls, {unavailable} JSON 503; bulk provisions: {written}")


def test_an_app_started_while_the_database_is_down_comes_up_and_serves_once_it_is_back(proxy, world):
    """A deploy or a worker restart during the outage: the app starts (nothing at start-up needs the
    database), answers the 503 meanwhile, and serves when the database returns."""
    proxy.cut("refuse")
    with app_server(DATABASE_URL=database_url(port=proxy.port), DATABASE_CONNECT_TIMEOUT=CONNECT_TIMEOUT) as late:
        assert late.call("GET", "/healthz").status == 200
        assert_database_unavailable(late.call("GET", "/readyz"), "readyz")
        assert_database_unavailable(late.call("GET", "/api/host/licenses", headers=world["auth"]), "licenses list")
        proxy.restore()
        wait_until_serving(late, world)
        assert late.call("GET", "/readyz").status == 200
