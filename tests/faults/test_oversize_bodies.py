"""Refusals the client can read (issue 19, point 4).

A body over MAX_REQUEST_BYTES is answered 413 before it is read. Closing the socket with the rest
of the body unread makes the kernel send a reset, which destroys the 413 in the client's receive
buffer while it is still writing: it sees "connection reset" instead. Here several clients send
bodies of 2, 20 and 200 MB at once, with a Content-Length and chunked, while others make ordinary
calls, against gunicorn run with the repository's gunicorn.conf.py: every oversize client must
read the whole 413 JSON answer, and every ordinary call must succeed.
"""

import contextlib
import http.client
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from audit.services import Actor
from hosts.services import host_create
from licensing.services import ProvisionItem, license_provision
from tests.faults.support import NO_RATE_LIMITS, app_server

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MB = 1024 * 1024
BLOCK = memoryview(b"x" * (256 * 1024))
SENDERS = 3  # of each kind (Content-Length, chunked) at once
CALLERS = 3  # making ordinary calls meanwhile


@pytest.fixture(scope="module")
def server(django_db_setup):
    with app_server(
        workers=2,
        threads=4,
        **NO_RATE_LIMITS,
    ) as server:
        yield server


@pytest.fixture
def world():
    actor = Actor.command("tests")
    host, issued = host_create(company_name="Big Bodies Hosting", contact_email="ops@big.test", actor=actor)
    items = [
        ProvisionItem(server_id=f"rust-big-{n}", hostname="play.big.test", customer_email="gamer@big.test")
        for n in range(CALLERS)
    ]
    results = license_provision(host=host, items=items, actor=actor, livemode=True)
    return {
        "auth": {"Authorization": f"Bearer {issued.raw_key}"},
        # One license per caller: two callers' heartbeats of one license could come too close together.
        "license_keys": [result.host_license.license.license_key for result in results],
    }


def send_oversize(server, path, headers, chunked, *, size):
    """POST `size` bytes as a plain client does (the whole body, then the answer): (status, body) or the error."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    try:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
        sock.sendall(request_head(path, framing, headers))
        sent = 0
        while sent < size:
            piece = BLOCK[: min(len(BLOCK), size - sent)]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.headers, response.read()
    except OSError as exc:
        return exc
    finally:
        sock.close()


def timed(function, *args, **kwargs):
    started = time.monotonic()
    outcome = function(*args, **kwargs)
    return outcome, time.monotonic() - started


def ordinary_calls(server, world, license_key, stop, results):
    while not stop.is_set():
        server_id = f"rust-small-{uuid.uuid4().hex}"
        item = {"server_id": server_id, "hostname": "p.test", "customer_email": "g@p.test"}
        for name, method, path, body, headers, expected in (
            ("heartbeat", "POST", "/api/plugin/heartbeat", {"license_key": license_key}, {}, 200),
            ("list", "GET", "/api/host/licenses?page_size=5", None, world["auth"], 200),
            ("provision", "POST", "/api/host/provision", item, world["auth"], 201),
        ):
            try:
                response = server.call(method, path, body=body, headers=headers)
                results.append((name, response.status == expected, response))
            except OSError as exc:
                results.append((name, False, exc))


def refuse_at_once(server, world, size_mb):
    """Several oversize clients at once, each kind and endpoint, while ordinary calls go on."""
    size = size_mb * MB
    targets = [("/api/host/provision", world["auth"]), ("/api/plugin/heartbeat", {})]
    senders = [(*targets[n % 2], chunked) for chunked in (False, True) for n in range(SENDERS)]
    stop = threading.Event()
    ordinary = []
    callers = [
        threading.Thread(target=ordinary_calls, args=(server, world, key, stop, ordinary))
        for key in world["license_keys"]
    ]
    for caller in callers:
        caller.start()
    try:
        with ThreadPoolExecutor(len(senders)) as pool:
            refused = list(pool.map(lambda s: (s, *timed(send_oversize, server, *s, size=size)), senders))
    finally:
        stop.set()
        for caller in callers:
            caller.join(timeout=60)
    return refused, ordinary


def test_every_oversize_client_reads_its_413_while_ordinary_calls_succeed(server, world):
    for size_mb in (2, 20, 200):
        refused, ordinary = refuse_at_once(server, world, size_mb)
        for (path, _, chunked), outcome, _ in refused:
            what = (path, "chunked" if chunked else "Content-Length", size_mb)
            assert not isinstance(outcome, Exception), (what, outcome)
            status, headers, body = outcome
            assert status == 413, (what, status, body[:200])
            assert headers["Content-Type"] == "application/json", what
            if not chunked:  # known from the headers: the answer says the connection ends with it
                assert headers["Connection"] == "close", what
            assert json.loads(body)["error"]["code"] == "request_too_large", what
        failed = [(name, outcome) for name, ok, outcome in ordinary if not ok]
        assert not failed, failed[:5]
        assert ordinary, "no ordinary call was made meanwhile"
        print(
            f"\n[{size_mb} MB] {len(refused)} oversize clients read their 413 after"
            f" {sorted(round(took, 2) for *_, took in refused)} s; {len(ordinary)} ordinary calls succeeded meanwhile"
        )
    assert server.call("GET", "/healthz").status == 200


def request_head(path, framing, headers=None):
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n"
    return (head + "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items()) + "\r\n").encode()


def test_slow_oversize_clients_hold_no_request_thread(server, world):
    """Clients that trickle an oversize body get their 413 at once, and while they go on sending,
    more of them than the server has threads, ordinary calls are served as usual."""

    def ordinary():
        for key in world["license_keys"]:
            assert server.call("POST", "/api/plugin/heartbeat", body={"license_key": key}).status == 200
        assert server.call("GET", "/api/host/licenses", headers=world["auth"]).status == 200

    for _ in range(3):
        ordinary()  # both workers have loaded what an ordinary call needs
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(12)]  # > 2 x 4 threads
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.2):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.send(b"x" * 512)

    trickler = threading.Thread(target=trickle)
    started = time.monotonic()
    try:
        for sock in slow:
            sock.sendall(request_head("/api/plugin/heartbeat", f"Content-Length: {2 * MB}") + b"x" * 4096)
        trickler.start()
        for sock in slow:
            response = http.client.HTTPResponse(sock)
            response.begin()
            assert response.status == 413
            response.read()
        ordinary()
        seconds = time.monotonic() - started
        print(f"\n[slow clients] 12 answered 413 and 4 ordinary calls served in {seconds:.2f} s")
        # Held threads would show: gunicorn's own drain kept each for 5 s (11 s in all, before the fix).
        assert seconds < 3, "the slow clients held the request threads"
    finally:
        stop.set()
        if trickler.is_alive():
            trickler.join()
        for sock in slow:
            sock.close()


def test_a_chunked_body_under_the_limit_is_read_like_any_other(server, world):
    body = json.dumps({"license_key": world["license_keys"][0]}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head("/api/plugin/heartbeat", "Transfer-Encoding: chunked"))
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200, response.read()
        assert json.loads(response.read())["valid"] is True
