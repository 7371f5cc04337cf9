"""A database that stops answering (issue 19, point 1).

SPEC: when the database does not answer in time (a statement or lock timeout, or a lost
connection) a request gets a JSON 503 with Retry-After within DATABASE_STATEMENT_TIMEOUT_SECONDS
plus a second, never a worker held forever. Here the timeout is 2 s, so every 503 must come within
3 s of its request: from a row another connection keeps locked, from a statement that runs too
long, and from a connection that goes silent (the TCP proxy frozen: no byte through, no socket
closed). Meanwhile whatever does not need the stuck rows is served, and afterwards everything is,
by the same processes.
"""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date

import psycopg
import pytest
from django.db import connection
from django.test import Client

from audit.services import Actor
from billing.models import BillingMonth
from billing.services import LOCK_NAMESPACE
from hosts.services import host_create
from licensing.services import ProvisionItem, license_provision
from tests.faults.support import (
    NO_RATE_LIMITS,
    REPO,
    app_server,
    assert_database_unavailable,
    database_sessions,
    database_url,
    subprocess_env,
    tcp_proxy,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT = 2  # DATABASE_STATEMENT_TIMEOUT_SECONDS for the app under test
THREADS = 5  # one worker; as many threads as the most calls a test makes at once, so none queues
APP_NAME = "corrosion-timeouts"
HEARTBEAT = "/api/plugin/heartbeat"
ADMIN_AUTOCOMPLETE = "/admin/autocomplete/?app_label=licensing&model_name=hostlicense&field_name=host"
WAITING_FOR_THE_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2"
)


@pytest.fixture(scope="module")
def proxied_app(django_db_setup):
    with (
        tcp_proxy(int(connection.settings_dict["PORT"] or 5432)) as proxy,
        app_server(
            threads=THREADS,
            DATABASE_URL=database_url(port=proxy.port, application_name=APP_NAME),
            DATABASE_STATEMENT_TIMEOUT_SECONDS=TIMEOUT,
            DATABASE_CONNECT_TIMEOUT=TIMEOUT,
            **NO_RATE_LIMITS,
        ) as server,
    ):
        yield proxy, server


def _host(name):
    actor = Actor.command("tests")
    host, issued = host_create(company_name=f"{name} Hosting", contact_email=f"ops@{name}.test", actor=actor)
    items = [
        ProvisionItem(server_id=f"rust-{name}-{n}", hostname=f"play{n}.{name}.test", customer_email=f"g@{name}.test")
        for n in range(2)
    ]
    results = license_provision(host=host, items=items, actor=actor, livemode=True)
    return {
        "host": host,
        "auth": {"Authorization": f"Bearer {issued.raw_key}"},
        "licenses": [str(result.host_license.license_id) for result in results],
        "keys": [result.host_license.license.license_key for result in results],
    }


@pytest.fixture
def world(django_user_model):
    staff = django_user_model.objects.create_superuser("timeouts-staff", "staff@timeouts.test", "pw-for-tests-only")
    browser = Client()
    browser.force_login(staff)
    return {
        "a": _host("alpha"),
        "b": _host("bravo"),
        "staff": {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"},
    }


def timed(server, name, method, path, body=None, headers=None):
    started = time.monotonic()
    response = server.call(method, path, body=body, headers=headers, timeout=30)
    return name, response, time.monotonic() - started


def concurrently(server, calls):
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: timed(server, *call), calls))


def assert_in_time(results):
    """Each a JSON 503 with Retry-After, within the timeout plus a second."""
    for name, response, seconds in results:
        assert_database_unavailable(response, name)
        assert seconds <= TIMEOUT + 1, (name, seconds)


def heartbeat(world, host, n=0):
    return (f"heartbeat {host}{n}", "POST", HEARTBEAT, {"license_key": world[host]["keys"][n]}, {})


def served(server, world, host):
    """(name, method, path, body, headers, expected status) for calls a host makes every day."""
    w = world[host]
    new_server = {"server_id": f"rust-{host}-{time.monotonic_ns()}", "hostname": "p.test", "customer_email": "x@y.test"}
    return [
        (f"provision {host}", "POST", "/api/host/provision", new_server, w["auth"], 201),
        (f"list {host}", "GET", "/api/host/licenses", None, w["auth"], 200),
        (f"detail {host}", "GET", f"/api/host/licenses/{w['licenses'][0]}", None, w["auth"], 200),
        (*heartbeat(world, host), 200),
    ]


def assert_served(server, calls, *, within=None):
    for name, method, path, body, headers, expected in calls:
        _, response, seconds = timed(server, name, method, path, body, headers)
        assert response.status == expected, (name, response)
        assert within is None or seconds < within, (name, seconds)


def assert_served_quickly(server, calls):
    """Served without waiting for any lock: well before the timeout (a loaded machine is slow)."""
    assert_served(server, calls, within=TIMEOUT - 0.5)


@contextmanager
def row_locks(host):
    """Another session holds a lock on every row of `host` in host_licenses until the block ends."""
    with psycopg.connect(database_url()) as holder:
        holder.execute("SELECT 1 FROM host_licenses WHERE host_id = %s FOR UPDATE", [host.pk])
        try:
            yield
        finally:
            holder.rollback()


def test_requests_waiting_on_locked_rows_get_a_503_in_time_while_other_hosts_are_served(server, world):
    a = world["a"]
    license_path = f"/api/host/licenses/{a['licenses'][0]}"
    waiting = [
        heartbeat(world, "a"),  # the plain Django view
        ("suspend a", "POST", f"{license_path}/suspend", None, a["auth"]),  # DRF, in a transaction
        ("edit a", "PATCH", license_path, {"hostname": "moved.alpha.test"}, a["auth"]),
    ]
    assert_served(server, served(server, world, "a") + served(server, world, "b"))  # each thread warm

    with row_locks(a["host"]), ThreadPoolExecutor(len(waiting)) as pool:
        started = time.monotonic()
        pending = [pool.submit(timed, server, *call) for call in waiting]
        time.sleep(0.3)  # they are queued on the locks now
        # The other threads serve another host as usual, and the locked host's reads too.
        assert_served_quickly(server, served(server, world, "b"))
        assert_served_quickly(server, [("list a", "GET", "/api/host/licenses", None, a["auth"], 200)])
        others_done = time.monotonic() - started
        results = [future.result() for future in pending]

    assert_in_time(results)
    assert all(seconds >= TIMEOUT - 0.1 for _, _, seconds in results), results  # the lock's timeout, not a fluke
    assert others_done < min(seconds for _, _, seconds in results), "the other host waited for the locked one"
    print(f"\n[row lock] JSON 503 after {[round(s, 2) for *_, s in results]} s; other host served meanwhile")

    # The lock is gone: the same calls succeed, the edit was never half-done.
    for name, method, path, body, headers in waiting:
        assert server.call(method, path, body=body, headers=headers).status == 200, name
    assert server.call("GET", license_path, headers=a["auth"]).json()["hostname"] == "moved.alpha.test"


@contextmanager
def slow_updates(license_id, seconds):
    """A trigger that makes every UPDATE of one host license take `seconds`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_slow_update() RETURNS trigger AS $$"
            f" BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER test_slow_update BEFORE UPDATE ON host_licenses FOR EACH ROW"
            f" WHEN (OLD.license_id = '{license_id}'::uuid) EXECUTE FUNCTION test_slow_update()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_slow_update ON host_licenses; DROP FUNCTION test_slow_update()")


def test_a_statement_that_runs_too_long_gets_a_503_in_time(server, world):
    with slow_updates(world["a"]["licenses"][0], seconds=TIMEOUT * 3):
        results = concurrently(server, [heartbeat(world, "a", 0), heartbeat(world, "a", 0)])
        assert_served_quickly(server, [(*heartbeat(world, "a", 1), 200)])
    assert_in_time(results)
    print(f"\n[slow statement] JSON 503 after {[round(s, 2) for *_, s in results]} s")
    assert_served_quickly(server, [(*heartbeat(world, "a", 0), 200)])


RETRY = {"server_id": "rust-alpha-0", "hostname": "play0.alpha.test", "customer_email": "g@alpha.test"}


def test_a_frozen_connection_gets_a_503_in_time_is_never_reused_and_the_app_serves_after(proxy, server, world):
    a = world["a"]
    calls = [
        ("list", "GET", "/api/host/licenses", None, a["auth"]),
        ("provision (a retry)", "POST", "/api/host/provision", RETRY, a["auth"]),
        heartbeat(world, "a"),
        ("readyz", "GET", "/readyz", None, {}),
        # The session and the staff user are read by middleware and the admin, outside DRF.
        ("admin, staff session", "GET", ADMIN_AUTOCOMPLETE, None, world["staff"]),
    ]
    # Each of the worker's threads holds a connection, opened before the freeze.
    for _ in range(3):
        assert all(response.status == 200 for _, response, _ in concurrently(server, calls))
    before = {pid for pid, *_ in database_sessions(APP_NAME)}
    assert before

    proxy.freeze()
    rounds = []
    try:
        # First round: each thread's open connection goes silent. Second: new connections get no answer.
        for _ in range(2):
            results = concurrently(server, calls)  # no more calls than threads: none waits for a thread
            assert_in_time(results)
            rounds.append([round(seconds, 2) for *_, seconds in results])
            assert server.call("GET", "/healthz", timeout=2).status == 200
    finally:
        proxy.thaw()
    print(f"\n[frozen connection] JSON 503 after {rounds[0]} s (open connections), {rounds[1]} s (new ones)")

    deadline = time.monotonic() + 20
    while server.call("GET", "/api/host/licenses", headers=a["auth"]).status != 200:
        assert time.monotonic() < deadline, "the app did not serve again after the thaw"
        time.sleep(0.1)
    for name, method, path, body, headers in calls:
        assert server.call(method, path, body=body, headers=headers).status == 200, name
    # The sessions that went silent were closed by the app, not picked up again once bytes flowed.
    deadline = time.monotonic() + 10
    while before & {pid for pid, *_ in database_sessions(APP_NAME)}:
        assert time.monotonic() < deadline, "a connection that went silent is still in use"
        time.sleep(0.1)


@pytest.mark.django_db  # in-process only: no other session needs to see the test's data
def test_the_request_timeouts_are_set_and_migrations_run_without_them():
    def timeouts():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
            return cursor.fetchone()

    assert timeouts() == ("10s", "10s")  # DATABASE_STATEMENT_TIMEOUT_SECONDS' default, as requests get it
    with connection.schema_editor():
        assert timeouts() == ("0", "0")  # a migration may rewrite a big table
    assert timeouts() == ("10s", "10s")


def test_close_billing_month_waits_longer_than_the_request_timeout(world):
    """The close sets its own limit: queued behind another closer for longer than a request may
    wait, it still closes the month (SPEC: two runs at once both succeed)."""
    month = date(2026, 1, 1)
    command = [sys.executable, "manage.py", "close_billing_month", "--month", "2026-01"]
    env = subprocess_env(DATABASE_STATEMENT_TIMEOUT_SECONDS=1)
    key = month.year * 100 + month.month
    with psycopg.connect(database_url()) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, key])
        closer = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not holder.execute(WAITING_FOR_THE_LOCK, [LOCK_NAMESPACE, key]).fetchone()[0]:
                assert closer.poll() is None, closer.communicate()[0].decode()
                assert time.monotonic() < deadline, "the closer never reached the month's lock"
                time.sleep(0.05)
            time.sleep(2.5)  # queued for longer than its 1 s request timeout
            assert closer.poll() is None, closer.communicate()[0].decode()
            holder.rollback()
            output, _ = closer.communicate(timeout=60)
        finally:
            if closer.poll() is None:
                closer.kill()
                closer.wait()
    assert closer.returncode == 0, output.decode()
    assert BillingMonth.objects.filter(month=month).exists()
