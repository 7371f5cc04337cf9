"""A release rolled out under load: the previous release serves while this one's `migrate` runs.

    python -m bench.upgrade [--licenses 100000] [--seconds-after 2]

What a zero-downtime deploy does, end to end, on a database of its own (BENCH_UPGRADE_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/corrosion_bench_upgrade, dropped and created again):

1. the previous release (PREVIOUS_RELEASE, the commit this round of migrations started from) is
   taken out of git into a temporary folder, migrates the empty database to its own schema and
   seeds it with its own benchmark seed (`licenses` licenses over a few hosts);
2. it serves under gunicorn, as production runs it; client threads send heartbeats (random
   license keys) and provisioning calls (new servers) to it without pause;
3. this release's `manage.py migrate` runs against the same database while they do; a monitor
   samples PostgreSQL every 20 ms: sessions waiting for a lock, and ACCESS EXCLUSIVE locks held;
4. the load goes on a moment after `migrate` ends, then stops.

The result: requests sent, failed (any answer but 200/201, or no answer), the slowest request,
how long `migrate` took, the longest wait for a lock any session had, and the longest ACCESS
EXCLUSIVE lock seen on a table the app uses. tests/faults/test_upgrade_under_load.py runs this at
a small size in CI; `make bench` (BENCHMARKS.md) at 100,000 licenses.
"""

import argparse
import http.client
import itertools
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import REPO, free_port, recreate_database

# The last commit before this round's migrations: the release a deploy of this one replaces.
PREVIOUS_RELEASE = "65db85e24083b7cd0b5b7820490a19b459579b5a"
# Tables the running app reads and writes on its hot paths; a long ACCESS EXCLUSIVE lock on any of
# them would queue every heartbeat or provisioning call behind it.
HOT_TABLES = ("licenses", "host_licenses", "hosts", "host_api_keys", "auth_user", "audit_events")


class PreviousReleaseMissing(RuntimeError):
    """The previous release's commit is not in this clone (a shallow clone, say)."""


@dataclass
class Result:
    licenses: int
    requests: int = 0
    failures: list = field(default_factory=list)
    slowest_seconds: float = 0.0
    latencies: list = field(default_factory=list, repr=False)
    migrate_seconds: float = 0.0
    migrate_output: str = ""
    migrations_applied: list = field(default_factory=list)
    longest_lock_wait_seconds: float = 0.0
    longest_exclusive_lock_seconds: float = 0.0
    exclusive_lock_table: str = ""

    @property
    def p99_seconds(self):
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def summary(self):
        return {
            "licenses": self.licenses,
            "requests": self.requests,
            "failed": len(self.failures),
            "p99_ms": round(self.p99_seconds * 1000, 1),
            "slowest_ms": round(self.slowest_seconds * 1000, 1),
            "migrate_s": round(self.migrate_seconds, 2),
            "migrations": len(self.migrations_applied),
            "longest_lock_wait_ms": round(self.longest_lock_wait_seconds * 1000, 1),
            "longest_exclusive_lock_ms": round(self.longest_exclusive_lock_seconds * 1000, 1),
            "exclusive_lock_table": self.exclusive_lock_table,
        }


def previous_release_tree(destination, commit=PREVIOUS_RELEASE):
    """The previous release's files (git archive), without touching this checkout."""
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, capture_output=True, check=False
    )
    if known.returncode != 0:
        raise PreviousReleaseMissing(f"commit {commit[:12]} is not in this clone; fetch the full history")
    destination.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    return destination


def _environment(database_url):
    return {
        **{name: value for name, value in os.environ.items() if name not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")},
        "DJANGO_SETTINGS_MODULE": "corrosion.settings",
        "DATABASE_URL": database_url,
        "CACHE_URL": os.environ.get("BENCH_UPGRADE_CACHE_URL", "locmemcache://"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        # The load is a few hosts provisioning flat out and keys beating again within a minute:
        # the limits are not what this measures.
        "HOST_API_RATE_LIMIT": "10000000/min",
        "HEARTBEAT_RATE_LIMIT": "10000000/min",
        "REQUEST_LOG_LEVEL": "WARNING",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
    }


_SEED_SCRIPT = """
import json, sys
import django
django.setup()
from django.db import connection, transaction
from django.utils import timezone
from bench.seed import Shape, seed
hosts, per_host, whale = (int(n) for n in sys.argv[1:4])
with transaction.atomic(), connection.cursor() as cursor:
    seeded = seed(cursor, now=timezone.now(), shape=Shape(hosts=hosts, per_host=per_host, whale=whale))
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE")
print(json.dumps({"licenses": seeded.licenses, "license_keys": seeded.license_keys[:20000],
                  "host_keys": [seeded.whale_key, seeded.small_key, *seeded.host_keys]}))
"""


def _shape(licenses):
    """A few ordinary hosts of 100 and one big host with the rest, as the benchmark's seed has."""
    hosts = max(3, min(101, licenses // 1000))
    per_host = 100
    return hosts, per_host, max(10, licenses - (hosts - 1) * per_host)


def _run(command, *, cwd, env, timeout=900):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


class _Load:
    """Client threads on keep-alive connections: heartbeats and provisioning, until stopped."""

    def __init__(self, port, *, license_keys, host_keys, result, heartbeat_threads=4, provision_threads=2):
        self.port = port
        self.keys = itertools.cycle(random.sample(license_keys, len(license_keys)))
        self.host_keys = host_keys
        self.result = result
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._heartbeats, daemon=True) for _ in range(heartbeat_threads)] + [
            threading.Thread(target=self._provisioning, args=(n,), daemon=True) for n in range(provision_threads)
        ]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _send(self, connection, path, body, headers, label):
        started = time.monotonic()
        try:
            connection.request(
                "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers}
            )
            response = connection.getresponse()
            answer = response.read()
            failed = None if response.status in (200, 201) else f"{label}: {response.status} {answer[:200]!r}"
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            failed = f"{label}: {type(error).__name__}: {error}"
        elapsed = time.monotonic() - started
        with self.lock:
            self.result.requests += 1
            self.result.latencies.append(elapsed)
            self.result.slowest_seconds = max(self.result.slowest_seconds, elapsed)
            if failed:
                self.result.failures.append(failed)

    def _next_key(self):
        # Each key in turn, from a shuffled list: two threads drawing the same key at once would
        # send a beat "too soon" (429), which the per-license limit rightly refuses.
        with self.lock:
            return next(self.keys)

    def _heartbeats(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            key = self._next_key()
            self._send(connection, "/api/plugin/heartbeat", {"license_key": key, "players": 3}, {}, "heartbeat")
        connection.close()

    def _provisioning(self, n):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        nonce = secrets.token_hex(3)
        count = 0
        while not self.stop.is_set():
            count += 1
            host_key = self.host_keys[(n + count) % len(self.host_keys)]
            body = {
                "server_id": f"upgrade-{nonce}-{n}-{count}",
                "hostname": f"play{count}.upgrade{n}.example",
                "customer_email": f"player{count}@upgrade{n}.example",
            }
            self._send(connection, "/api/host/provision", body, {"Authorization": f"Bearer {host_key}"}, "provision")
        connection.close()


class _LockMonitor:
    """Samples PostgreSQL every 20 ms: the longest lock wait of any session, and ACCESS EXCLUSIVE
    locks held on the hot tables (first seen to last seen)."""

    def __init__(self, database_url, result):
        self.database_url = database_url
        self.result = result
        self.stop = threading.Event()
        self.exclusive_held = {}  # (pid, table) -> (first, last) monotonic times, while held
        self.exclusive_spans = []  # (table, seconds) of each hold that ended
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)
        spans = self.exclusive_spans + [
            (table, last - first) for (_pid, table), (first, last) in self.exclusive_held.items()
        ]
        for table, seconds in spans:
            if seconds > self.result.longest_exclusive_lock_seconds:
                self.result.longest_exclusive_lock_seconds = seconds
                self.result.exclusive_lock_table = table

    def _run(self):
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            while not self.stop.is_set():
                waits = connection.execute(
                    "SELECT COALESCE(max(extract(epoch FROM clock_timestamp() - state_change)), 0)"
                    " FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()[0]
                self.result.longest_lock_wait_seconds = max(self.result.longest_lock_wait_seconds, float(waits))
                now = time.monotonic()
                held = set(
                    connection.execute(
                        "SELECT l.pid, c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                        " WHERE l.mode = 'AccessExclusiveLock' AND l.granted AND c.relname = ANY(%s)",
                        (list(HOT_TABLES),),
                    ).fetchall()
                )
                # A hold ends when a sample no longer sees it: one session's later migration that
                # locks the same table again is a new hold, not one long one.
                for key in set(self.exclusive_held) - held:
                    first, last = self.exclusive_held.pop(key)
                    self.exclusive_spans.append((key[1], last - first))
                for key in held:
                    first, _ = self.exclusive_held.get(key, (now, now))
                    self.exclusive_held[key] = (first, now)
                time.sleep(0.02)


def run(*, licenses, database_url, workdir, seconds_before=1.0, seconds_after=1.0, log=print):
    """Seed with the previous release, serve it under load, migrate with this one; the Result."""
    result = Result(licenses=licenses)
    old = previous_release_tree(Path(workdir) / "previous-release")
    recreate_database(database_url, must_contain="upgrade")
    env = _environment(database_url)
    log(f"previous release {PREVIOUS_RELEASE[:12]}: migrating an empty database")
    _run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=old, env=env)
    log(f"previous release: seeding {licenses:,} licenses")
    seeded = json.loads(_run([sys.executable, "-c", _SEED_SCRIPT, *map(str, _shape(licenses))], cwd=old, env=env))
    result.licenses = seeded["licenses"]
    pending = _run([sys.executable, "manage.py", "showmigrations", "--plan"], cwd=REPO, env=env)
    result.migrations_applied = [
        line.split("]", 1)[1].strip() for line in pending.splitlines() if line.startswith("[ ]")
    ]

    port = free_port()
    server_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    log_path = Path(workdir) / "previous-release-gunicorn.log"
    with open(log_path, "wb") as server_log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "corrosion.wsgi", "--config", "gunicorn.conf.py"],
            cwd=old,
            env=server_env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_serving(port, server, log_path)
            log(
                f"previous release serving on :{port}; load on; this release migrates {len(result.migrations_applied)} steps"
            )
            with (
                _LockMonitor(database_url, result),
                _Load(port, license_keys=seeded["license_keys"], host_keys=seeded["host_keys"], result=result),
            ):
                time.sleep(seconds_before)
                started = time.monotonic()
                migrate = subprocess.run(
                    [sys.executable, "manage.py", "migrate", "--noinput"],
                    cwd=REPO,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                    check=False,
                )
                result.migrate_seconds = time.monotonic() - started
                result.migrate_output = migrate.stdout + migrate.stderr
                if migrate.returncode != 0:
                    raise RuntimeError(f"this release's migrate failed under load:\n{result.migrate_output}")
                time.sleep(seconds_after)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return result


def _wait_until_serving(port, server, log_path):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the previous release's gunicorn exited ({server.returncode}); see {log_path}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the previous release did not answer /healthz within 60 s; see {log_path}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.upgrade", description=__doc__.split("\n\n")[0])
    parser.add_argument("--licenses", type=int, default=100_000)
    parser.add_argument("--seconds-after", type=float, default=2.0)
    args = parser.parse_args(argv)
    database_url = os.environ.get(
        "BENCH_UPGRADE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/corrosion_bench_upgrade"
    )
    with tempfile.TemporaryDirectory(prefix="corrosion-upgrade-") as workdir:
        result = run(
            licenses=args.licenses, database_url=database_url, workdir=workdir, seconds_after=args.seconds_after
        )
    print(json.dumps(result.summary(), indent=2))
    for failure in result.failures[:20]:
        print("failed:", failure)
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
