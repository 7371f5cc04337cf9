"""The README's first command, run as a newcomer would: a fresh copy, no virtualenv, no services."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KEY_LINE = re.compile(r"API key:\s+(crn_[a-z0-9]{8}_[A-Za-z0-9]{43,})")
ADMIN_LINE = re.compile(r"user admin\s+password (\S+)")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_clone(target):
    """What `git clone` gives: the tracked files and the untracked ones not ignored, nothing else."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())


@pytest.mark.slow
def test_make_run_serves_the_api_and_the_printed_key_authenticates(tmp_path):
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    _fresh_clone(tmp_path)
    assert not (tmp_path / ".venv").exists()
    port = _free_port()
    # A newcomer's shell: none of CI's variables, no virtualenv on PATH.
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "CACHE_URL",
            "DEBUG",
            "SECRET_KEY",
            "VIRTUAL_ENV",
            "ALLOWED_HOSTS",
            "SECURE_SSL_REDIRECT",
        }
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "/.venv/" not in p)
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = []
    try:
        raw_key = password = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and (raw_key is None or password is None):
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            raw_key = raw_key or (KEY_LINE.search(line) and KEY_LINE.search(line).group(1))
            password = password or (ADMIN_LINE.search(line) and ADMIN_LINE.search(line).group(1))
        assert raw_key and password, "".join(output[-40:])

        status = None
        while time.monotonic() < deadline and status is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/host/licenses", headers={"Authorization": f"Bearer {raw_key}"}
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    status = response.status
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.5)
        assert status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as response:
            assert response.status == 200
        assert (tmp_path / ".venv" / "bin" / "python").exists()
        assert (tmp_path / "db.sqlite3").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
