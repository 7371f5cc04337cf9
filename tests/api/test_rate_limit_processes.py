"""The host rate limit holds across processes: two gunicorn servers sharing one Redis."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(port, api_key):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/host/licenses", headers={"Authorization": f"Bearer {api_key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_until_up(port, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"gunicorn on {port} did not start")


def test_two_app_servers_share_one_limit(api_key):
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs Redis: set CACHE_URL=redis://... (CI does)")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "HOST_API_RATE_LIMIT": "10/min",
        "DEBUG": "0",
        "SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
    }
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "corrosion.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            _wait_until_up(port, deadline)
        # The servers' clocks cannot be frozen from here, and need not be: the limit is a sliding
        # window, so whether or not a minute turns mid-test, any 14 requests within a minute see 10 pass.
        started = time.monotonic()
        statuses = [_status(ports[i % 2], api_key) for i in range(14)]
        assert time.monotonic() - started < 60
        # Each server alone would allow 7 of its 7; shared, exactly 10 of 14 pass.
        assert statuses.count(200) == 10, statuses
        assert statuses.count(429) == 4, statuses
        assert statuses[:10] == [200] * 10
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
