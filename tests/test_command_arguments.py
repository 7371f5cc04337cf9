"""Every command refuses bad arguments with a one-line error and a non-zero exit, never a traceback.

Each bad argument is tried twice: through call_command on the test database, and as an operator
(or cron) runs it, `python manage.py ...` in a real process, whose exit code and stderr are read.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.services import Actor
from billing.models import BillingMonth
from billing.months import month_format, month_latest_closable, month_of
from billing.services import month_close
from hosts.models import Host, HostAPIKey
from hosts.services import host_create

REPO = Path(__file__).resolve().parent.parent
KNOWN = "known@host.test"
CLOSED = month_format(month_latest_closable())  # closed in both databases before the cases run
OPEN = month_format(month_of(timezone.now()))
RUN_AS_PROCESSES = set()


def case(command, *args, says, id=None, cli=False):
    """A bad argument; `cli` ones are also run as real processes (a few per command: each costs a
    Python start-up, and the parsing they go through is the same as call_command's)."""
    shown = " ".join(arg or "''" for arg in args)
    param = pytest.param(command, list(args), says, id=id or f"{command} {shown}".strip()[:80])
    if cli:
        RUN_AS_PROCESSES.add(param.id)
    return param


def new_host(*args):
    return ["--company", "New Hosting", "--email", "new@host.test", *args]


BAD_ARGUMENTS = [
    case("create_host", *new_host("--rate", "abc"), says="is not a number", cli=True),
    case("create_host", *new_host("--rate", "NaN"), says="from 0.00 to", cli=True),
    case("create_host", *new_host("--rate", "sNaN"), says="from 0.00 to"),
    case("create_host", *new_host("--rate", "Infinity"), says="from 0.00 to"),
    case("create_host", *new_host("--rate", "100000000"), says="from 0.00 to", cli=True),
    case("create_host", *new_host("--rate", "1000.01"), says="from 0.00 to"),
    case("create_host", *new_host("--rate", "-1"), says="from 0.00 to"),
    case("create_host", *new_host("--rate", "6.005"), says="more than two decimal places", cli=True),
    case("create_host", *new_host("--rate", "1e-999999"), says="more than two decimal places"),
    case("create_host", *new_host("--rate", ""), says="is not a number"),
    case("create_host", "--company", "New", "--email", "not-an-email", says="is not an e-mail address", cli=True),
    case("create_host", "--company", "New", "--email", "", says="is not an e-mail address"),
    case(
        "create_host",
        "--company",
        "New",
        "--email",
        "a" * 64 + "@" + "b" * 50 + ".b" * 100 + ".test",
        says="at most 254",
    ),
    case("create_host", "--company", "New", "--email", KNOWN.upper(), says="already exists"),
    case("create_host", "--company", "", "--email", "new@host.test", says="1 to 200 characters", cli=True),
    case("create_host", "--company", "   ", "--email", "new@host.test", says="1 to 200 characters"),
    case(
        "create_host",
        "--company",
        "x" * 201,
        "--email",
        "new@host.test",
        says="1 to 200 characters",
        id="company201",
        cli=True,
    ),
    case("create_host", "--company", "Two\nLines", "--email", "new@host.test", says="control characters"),
    case("create_host", "--email", "new@host.test", says="the following arguments are required: --company"),
    case("create_host", says="the following arguments are required"),
    case("create_host", *new_host("--bogus"), says="unrecognized arguments: --bogus", cli=True),
    case("update_host", KNOWN, says="Nothing to change"),
    case("update_host", KNOWN, "--rate", "abc", says="is not a number", cli=True),
    case("update_host", KNOWN, "--rate", "NaN", says="from 0.00 to"),
    case("update_host", KNOWN, "--rate", "100000000", says="from 0.00 to"),
    case("update_host", KNOWN, "--rate", "6.005", says="more than two decimal places"),
    case("update_host", KNOWN, "--activate", "--deactivate", says="not allowed with argument", cli=True),
    case("update_host", "nobody@host.test", "--rate", "5", says="No host with the e-mail"),
    case("update_host", "not an e-mail\nat all", "--rate", "5", says="No host with the e-mail", cli=True),
    case("update_host", says="the following arguments are required: email"),
    case("issue_api_key", "nobody@host.test", says="No host with the e-mail", cli=True),
    case("issue_api_key", KNOWN, "--name", "n" * 101, says="at most 100 characters", cli=True),
    case("issue_api_key", KNOWN, "--name", "tab\there", says="no control characters"),
    case("issue_api_key", says="the following arguments are required: email"),
    case("revoke_api_key", "zzzzzzzz", says="No API key with the id", cli=True),
    case("revoke_api_key", "not a key id", says="No API key with the id"),
    case("revoke_api_key", "", says="No API key with the id"),
    case("revoke_api_key", says="the following arguments are required: key_id", cli=True),
    case("list_api_keys", "nobody@host.test", says="No host with the e-mail", cli=True),
    case("list_api_keys", KNOWN, "-v", "9", says="invalid choice: 9", cli=True),
    case("list_api_keys", says="the following arguments are required: email"),
    case("close_billing_month", "--month", "2026-13", says="is not a month", cli=True),
    case("close_billing_month", "--month", "26-01", says="is not a month"),
    case("close_billing_month", "--month", "0000-01", says="out of range"),
    case("close_billing_month", "--month", OPEN, says="cannot be closed before", cli=True),
    case("close_billing_month", "--month", says="expected one argument"),
    case("close_billing_month", "--batch-size", "0", says="must be at least 1", cli=True),
    case("close_billing_month", "--batch-size", "abc", says="is not a whole number"),
    case("export_billing", says="the following arguments are required: --month"),
    case("export_billing", "--month", "2026-13", says="is not a month", cli=True),
    case("export_billing", "--month", OPEN, says="is not closed", cli=True),
    case(
        "export_billing",
        "--month",
        CLOSED,
        "--output",
        "/nonexistent/x.csv",
        says="No such file or directory",
        cli=True,
    ),
    case("export_billing", "--month", CLOSED, "--output", "/", says="give a file name, not a folder"),
    case("export_billing", "--month", CLOSED, "--output", "", says="give a file name, not a folder"),
    case("export_billing", "--month", CLOSED, "--output", "/proc/x.csv", says="Cannot write '/proc/x.csv'"),
    case("seed_demo", says="only runs with DEBUG on", cli=True),
]

# Only call_command can pass these: an argv cannot hold a NUL, which PostgreSQL refuses outright.
NUL_ARGUMENTS = [
    case("create_host", "--company", "A\x00B", "--email", "new@host.test", says="control characters", id="nul-company"),
    case("create_host", "--company", "New", "--email", "a\x00@host.test", says="not an e-mail", id="nul-email"),
    case("create_host", *new_host("--rate", "6\x00"), says="is not a number", id="nul-rate"),
    case("update_host", "known\x00@host.test", "--rate", "5", says="No host", id="nul-update"),
    case("issue_api_key", KNOWN, "--name", "a\x00b", says="no control characters", id="nul-name"),
    case("list_api_keys", "\x00", says="No host", id="nul-list"),
    case("revoke_api_key", "abcd\x00efg", says="No API key", id="nul-key-id"),
    case("export_billing", "--month", CLOSED, "--output", "x\x00.csv", says="Cannot write", id="nul-output"),
]


@pytest.fixture
def known_state(db):
    """What the bad arguments meet: a host, its key, and a closed month."""
    host_create(company_name="Known Hosting", contact_email=KNOWN, actor=Actor.command("tests"))
    month_close(month=month_latest_closable(), actor=Actor.command("tests"))


def _unchanged():
    return (
        Host.objects.count(),
        HostAPIKey.objects.filter(revoked_at__isnull=True).count(),
        BillingMonth.objects.count(),
        list(Host.objects.values_list("wholesale_rate_usd", "active")),
    )


@pytest.mark.usefixtures("known_state")
@pytest.mark.parametrize(("command", "args", "says"), BAD_ARGUMENTS + NUL_ARGUMENTS)
def test_call_command_refuses_with_one_line(command, args, says):
    before = _unchanged()
    with pytest.raises(CommandError) as refused:
        call_command(command, *args, stdout=StringIO(), stderr=StringIO())
    message = str(refused.value)
    assert "\n" not in message
    assert says in message
    assert _unchanged() == before


# --- The same, as an operator runs them ------------------------------------------------------------


def _environment(database):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DEBUG": "0",
    }
    env.pop("PYTHONWARNINGS", None)
    return env


def _manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """Every bad argument run as `python manage.py ...` against a database of its own (the test
    database may live in memory), a few at a time; each test then reads its own answer."""
    env = _environment(tmp_path_factory.mktemp("commands") / "commands.sqlite3")
    for setup in (
        ["migrate", "--noinput", "-v", "0"],
        ["create_host", "--company", "Known Hosting", "--email", KNOWN],
        ["close_billing_month", "--month", CLOSED],
    ):
        done = _manage(env, *setup)
        assert done.returncode == 0, done.stderr
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = {
            (param.values[0], tuple(param.values[1])): pool.submit(_manage, env, param.values[0], *param.values[1])
            for param in BAD_ARGUMENTS
            if param.id in RUN_AS_PROCESSES
        }
        return {key: run.result() for key, run in runs.items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "args", "says"), [param for param in BAD_ARGUMENTS if param.id in RUN_AS_PROCESSES]
)
def test_manage_py_refuses_with_one_line_and_a_non_zero_exit(refusals, command, args, says):
    done = refusals[(command, tuple(args))]
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0]
    assert "API key (shown once" not in done.stdout
