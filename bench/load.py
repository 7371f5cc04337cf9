"""The app under gunicorn as production runs it, and wrk driving it from a separate process."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "lua"


def ensure_wrk():
    """Debian's wrk, installed with apt-get when missing."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    print("wrk is missing: installing it with apt-get", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    return shutil.which("wrk")


def recreate_database(url, *, must_contain):
    """Drop the database `url` names and create it empty; only one whose name holds `must_contain`,
    so a mistyped URL can never drop a real database."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if must_contain not in name:
        raise SystemExit(f"refusing to drop {name!r}: this database's name must contain {must_contain!r}")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with the repository's gunicorn.conf.py (gthread; the harness asks 2 workers x 4 threads).

    `app` is the WSGI application to serve: the project's, or the bare ceiling (bench/bare.py),
    served the same way.
    """

    def __init__(self, *, env, log_path, app="corrosion.wsgi", ready_path="/healthz"):
        self.app = app
        self.ready_path = ready_path
        self.port = free_port()
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.log_path = log_path
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.log = open(self.log_path, "wb")  # closed in __exit__
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", self.app, "--config", "gunicorn.conf.py"],
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer {self.ready_path} within 60 s; see {self.log_path}")

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def worker_pids(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def cpu_seconds(self):
        """gunicorn's CPU so far: master, live workers, and workers recycled (max_requests) since."""
        total = _cpu_of(self.process.pid, with_children=True) or 0.0
        return total + sum(_cpu_of(pid) or 0.0 for pid in self.worker_pids())


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid, *, with_children=False):
    """CPU seconds of a local process from /proc (utime + stime, plus its reaped children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


class CpuMeter:
    """CPU spent by the app and by its database backends over one run, when both run on this machine.

    The backends are those connected to the benchmark's database (pg_stat_activity); one that
    exits mid-run (CONN_MAX_AGE recycles them every minute) takes its share with it, so the
    database figure is a lower bound.
    """

    def __init__(self, server, backend_pids):
        self.server = server
        self.backend_pids = backend_pids

    def snapshot(self):
        return self.server.cpu_seconds(), {pid: _cpu_of(pid) for pid in self.backend_pids()}

    @staticmethod
    def between(before, after):
        (app_before, db_before), (app_after, db_after) = before, after
        readable = {pid: cpu for pid, cpu in db_after.items() if cpu is not None}
        db = sum(cpu - (db_before.get(pid) or 0.0) for pid, cpu in readable.items()) if readable else None
        return app_after - app_before, db


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: dict
    # Answers 429 (the heartbeat's per-license limit): the contract's answer, not an error.
    refused: int = 0
    # CPU seconds the app (gunicorn) and the database backends serving it spent in the run.
    app_cpu: float | None = None
    db_cpu: float | None = None

    def cpu_us(self, seconds):
        return None if seconds is None or not self.requests else seconds / self.requests * 1e6

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self):
        return sum(self.errors.values()) - self.refused


@dataclass(frozen=True)
class Load:
    """How hard wrk pushes: the issue's calibration is `wrk -t2 -c32`."""

    threads: int = 2
    connections: int = 32
    duration: float = 6.0
    warmup: float = 2.0


def wrk(url, *, script, load, seconds, env=None):
    command = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
    ]
    run_env = {**os.environ, "BENCH_LUA_DIR": str(LUA), "BENCH_THREADS": str(load.threads), **(env or {})}
    completed = subprocess.run(command, env=run_env, capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            data = json.loads(line.removeprefix("BENCH_RESULT "))
            return WrkResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                mean_ms=data["mean_us"] / 1000,
                errors=data["errors"],
                refused=data.get("refused", 0),
            )
    raise RuntimeError(f"wrk gave no result:\n{completed.stdout}\n{completed.stderr}")


def measure(url, *, script, load, env=None, on_result=None, meter=None):
    """A warm-up run (discarded), then the measured run.

    `env` may be a callable, asked before each run (the heartbeat's next unused keys);
    `on_result` hears of each run's figures; a CpuMeter adds the measured run's CPU.
    """
    result = None
    for seconds in (load.warmup, load.duration):
        if not seconds:
            continue
        before = meter.snapshot() if meter else None
        result = wrk(url, script=script, load=load, seconds=seconds, env=env() if callable(env) else env)
        if meter:
            app, db = CpuMeter.between(before, meter.snapshot())
            result = replace(result, app_cpu=app, db_cpu=db)
        if on_result:
            on_result(result)
    return result
