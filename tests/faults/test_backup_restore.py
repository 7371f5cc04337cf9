"""The backup the README recommends restores into a database that passes every invariant check and
serves the same bills, byte for byte (issue 19, point 2).

`pg_dump --format=custom` of a database with hosts, licenses, their status history, closed months
with lines and waived lines, and the audit trail; `pg_restore` into a fresh database; then
`check_integrity` and the API on both, side by side.
"""

import subprocess
import sys

import pytest
from django.db import connection

from tests.faults.support import REPO, app_server, database_url, subprocess_env
from tests.scenario import build_history

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PATHS = [
    "/api/host/billing",
    "/api/host/billing/2026-04",
    "/api/host/billing/2026-05",
    "/api/host/billing/2026-05.csv",
    "/api/host/licenses?page_size=500",
]


def _run(*command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{command[0]}: {result.stdout}{result.stderr}"
    return result


@pytest.fixture
def restored_database(tmp_path):
    """A fresh database holding what pg_restore made of a pg_dump of the test database."""
    source = database_url()
    name = f"{connection.settings_dict['NAME']}_restored"
    target = source.rsplit("/", 1)[0] + f"/{name}"
    admin = source.rsplit("/", 1)[0] + "/postgres"
    _run("psql", admin, "-c", f'DROP DATABASE IF EXISTS "{name}"', "-c", f'CREATE DATABASE "{name}"')

    def restore():
        dump = tmp_path / "corrosion.dump"
        _run("pg_dump", "--format=custom", "--file", str(dump), "--dbname", source)
        _run("pg_restore", "--no-owner", "--exit-on-error", "--dbname", target, str(dump))
        return target

    yield restore
    subprocess.run(["psql", admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True)


def test_a_restored_backup_passes_every_check_and_serves_the_same_bills(restored_database):
    keys = build_history()["keys"]
    target = restored_database()

    checked = subprocess.run(
        [sys.executable, "manage.py", "check_integrity"],
        cwd=REPO,
        env=subprocess_env(DATABASE_URL=target),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checks hold" in checked.stdout

    with app_server() as original, app_server(DATABASE_URL=target) as restored:
        for key in keys:
            headers = {"Authorization": f"Bearer {key}"}
            for path in PATHS:
                before = original.call("GET", path, headers=headers)
                after = restored.call("GET", path, headers=headers)
                assert before.status == 200, (path, before)
                # Page links are absolute: each server names itself in them.
                assert after.body.replace(restored.base_url.encode(), b"") == before.body.replace(
                    original.base_url.encode(), b""
                ), path
