"""What the fault tests share: the app in gunicorn against the test database, a TCP proxy that can
cut the database away, plain HTTP, and a look at PostgreSQL's own view of its sessions.

Every process and thread started here is stopped by the context manager that started it, so a
failing test leaves nothing running.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

from django.db import connection

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "test-only-secret-key-not-for-production-0123456789abcdef"


# For an app server whose limits are not under test: the per-address one counts in the shared
# Redis, across every run on this machine.
NO_RATE_LIMITS = {
    "HEARTBEAT_RATE_LIMIT": "100000/min",
    "HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT": "100000/min",
    "HOST_API_RATE_LIMIT": "100000/min",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(*, port=None, application_name=None):
    """The test database's URL, optionally through another port (a proxy) and named in pg_stat_activity."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    url = f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{db['NAME']}"
    return f"{url}?application_name={application_name}" if application_name else url


def subprocess_env(**overrides):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        # The request log line per call would drown the output a failing test prints.
        "REQUEST_LOG_LEVEL": "WARNING",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def stop_process(process, timeout=15, group=False):
    """SIGTERM, then SIGKILL if it will not go: nothing a test started outlives it.

    With `group`, the process leads its own process group (start_new_session) and the SIGKILL
    goes to the whole group, so a server's workers cannot outlive a master that had to be killed.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    if group:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def children_of(pid):
    """The pids whose parent is `pid`, read from /proc (gunicorn's workers are its master's children)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the fields after it are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers.get('content-type')} {self.body[:200]!r}>"


def assert_database_unavailable(response, name):
    """The answer when the database is away or too slow: a JSON 503 that says when to retry."""
    assert response.status == 503, (name, response)
    assert response.headers["content-type"].startswith("application/json"), (name, response)
    error = response.json()["error"]
    assert error["code"] in ("service_unavailable", "database_unavailable"), (name, error)
    assert error["message"] and "Traceback" not in response.body.decode(), name
    assert int(response.headers["retry-after"]) >= 1, (name, response.headers)


def call(base_url, method, path, *, body=None, headers=None, timeout=30):
    """One HTTP request on a fresh connection; a JSON-able body is sent as JSON."""
    host, port = base_url.removeprefix("http://").split(":")
    headers = dict(headers or {})
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


class AppServer:
    """The app in gunicorn (gunicorn.conf.py, as in production), on a free port."""

    def __init__(self, *, workers=1, threads=4, **env):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = subprocess_env(
            **{
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                "GUNICORN_WORKERS": workers,
                "GUNICORN_THREADS": threads,
                "GUNICORN_LOG_LEVEL": "warning",
                # A graceful stop that waits no longer than this for idle workers. (SIGINT's quick stop can
                # leave a gthread worker deadlocked in its signal handler, orphaned once the master goes.)
                "GUNICORN_GRACEFUL_TIMEOUT": 3,
                **env,
            }
        )
        self.process = None
        self.log = None

    def start(self, timeout=60):
        # A file, not a pipe: a pipe nobody reads fills up and blocks a chatty server.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "corrosion.wsgi"],
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_until_up(timeout)
        return self

    def output(self, limit=5000):
        """What the server printed (its JSON logs): its end, for a failing test to show, or all of it
        with `limit=None`."""
        self.log.flush()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return text if limit is None else text[-limit:]

    def wait_until_up(self, timeout=60, workers=None):
        """Until /healthz answers (and, if given, `workers` workers run)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.output()}")
            try:
                if call(self.base_url, "GET", "/healthz", timeout=2).status == 200 and (
                    workers is None or len(self.workers()) == workers
                ):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"gunicorn on {self.port} did not come up")

    def workers(self):
        return children_of(self.process.pid)

    def call(self, method, path, **kwargs):
        return call(self.base_url, method, path, **kwargs)

    def stop(self):
        if self.process is not None:
            stop_process(self.process, group=True)
        if self.log is not None:
            self.log.close()


@contextmanager
def app_server(**kwargs):
    server = AppServer(**kwargs)
    try:
        yield server.start()
    finally:
        server.stop()


class TcpProxy:
    """A TCP proxy in front of PostgreSQL that a test can cut, freeze and restore.

    cut("refuse"): every open connection is closed and new ones are refused, as when the
    database host goes down. cut("blackhole"): new connections are accepted and never answered,
    as when packets are dropped on the way, so only a connect timeout ends the wait.
    freeze(): no byte goes through in either direction, on open connections and new ones alike,
    but every socket stays open (a closed end is passed on only after thaw()), as when a network
    drops packets without a reset or the database host hangs: the client's kernel still gets its
    data and keepalives acknowledged by the proxy's, so nothing below the client notices.
    thaw() delivers what was held and lets bytes flow again.
    """

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.mode = "open"
        self.listener = None
        self.accept_thread = None
        self.lock = threading.Lock()
        self.sockets = set()
        self.stopped = False
        self.flowing = threading.Event()
        self.flowing.set()

    def start(self):
        self._listen()
        return self

    def _listen(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        self.accept_thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.accept_thread.start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self.lock:
                self.sockets.add(client)
                if self.mode == "blackhole":
                    continue  # held open, never answered, closed at restore or stop
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._close(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                cut_meanwhile = self.mode != "open"
                if not cut_meanwhile:
                    self.sockets.add(upstream)
            if cut_meanwhile:  # cut while this one was connecting: it must not survive the cut
                self._close(client)
                self._close(upstream)
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
            self.flowing.wait()  # a frozen network passes on no close either
        except OSError:
            pass
        finally:
            self._close(source)
            self._close(sink)

    def _close(self, sock):
        with self.lock:
            self.sockets.discard(sock)
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _close_all(self):
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            self._close(sock)

    def freeze(self):
        self.flowing.clear()

    def thaw(self):
        self.flowing.set()

    def cut(self, mode="refuse"):
        assert mode in ("refuse", "blackhole")
        self.flowing.set()  # a cut ends a freeze: held pumps run into their closed sockets and stop
        with self.lock:
            self.mode = mode
        if mode == "refuse":
            self._stop_listening()
        self._close_all()

    def restore(self):
        self.flowing.set()
        with self.lock:
            previous, self.mode = self.mode, "open"
        if previous == "refuse":
            self._listen()
        self._close_all()  # blackholed connections: their clients have given up already

    def _stop_listening(self):
        # close() alone does not wake a thread blocked in accept(); shutdown() does.
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.accept_thread.join(timeout=5)
        assert not self.accept_thread.is_alive(), "the proxy kept accepting"

    def stop(self):
        self.flowing.set()
        if self.mode != "refuse":
            self._stop_listening()
        self._close_all()


@contextmanager
def tcp_proxy(target_port):
    proxy = TcpProxy(target_port)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


def database_sessions(application_name):
    """PostgreSQL's sessions of one application on the test database: (pid, state, in a transaction, query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, xact_start IS NOT NULL, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()",
            [application_name],
        )
        return cursor.fetchall()


def wait_for_no_open_transaction(application_name, timeout=20):
    """Until no session of the application is inside a transaction: a killed client's is rolled back
    (or, if its COMMIT had been sent, committed) only when PostgreSQL notices it has gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(in_transaction for _, _, in_transaction, _ in database_sessions(application_name)):
            return
        time.sleep(0.02)
    raise AssertionError(f"{application_name} still holds a transaction: {database_sessions(application_name)}")


def kill(pid):
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
