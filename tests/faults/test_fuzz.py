"""Fuzzing the live app against its own OpenAPI document with schemathesis (issue 8, part 3).

Every operation, each check schemathesis has (server errors, status codes, content types,
response schemas and headers, negative and positive data, ignored auth, use after free,
object-level authorization between two hosts), in bounded examples so it fits CI. Run through the
CLI against gunicorn, as a client would meet the app; the seed makes a failure repeatable.
"""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from audit.services import Actor
from billing.months import month_latest_closable, month_start
from billing.services import month_close
from hosts.services import host_create
from licensing.services import ProvisionItem, license_provision
from tests.factories import HostLicenseFactory
from tests.faults.support import app_server, stop_process

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 8
EXAMPLES = 40

# Written out rather than kept in the repository: it names the keys the test has just issued.
# Every check schemathesis has is on by default; naming them with --checks on the command line would
# override the one per-operation exception below, so none are named.
CONFIG = """
[auth.wfc]
path = "{auth}"
# The two hosts must never reach each other's objects.
peers = ["alice", "bob"]

[checks.negative_data_rejection]
# gunicorn refuses a request line over 4094 bytes (414) or headers too large (431) before the app:
# both are rejections, documented on every operation.
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429", "431", "5xx"]

[[operations]]
# Valid by the schema yet refused, by rules no JSON Schema can state: a bulk's server_ids must be
# unique within it (provision), a cursor must be one the API issued (lists), a month must not be
# in the future (bill, JSON or CSV). Each refusal is a documented 400, and each rule has tests of its own.
include-operation-id = [
    "licenses_provision", "licenses_list", "billing_list", "billing_retrieve", "billing_retrieve_csv", "invoices_list",
]
checks.positive_data_acceptance.enabled = false
"""


@pytest.fixture
def two_hosts():
    """Two hosts with a key, licenses and a closed month each, so that ids exist to fuzz with."""
    actor = Actor.command("tests")
    month = month_latest_closable()
    keys = {}
    for name in ("alice", "bob"):
        host, issued = host_create(company_name=f"{name} hosting", contact_email=f"ops@{name}.test", actor=actor)
        for n in range(2):
            HostLicenseFactory(host=host, provisioned_at=month_start(month) - timedelta(days=5 + n))
        items = [
            ProvisionItem(server_id=f"{name}-{n}", hostname=f"{name}{n}.fuzz.test", customer_email=f"c{n}@{name}.test")
            for n in range(2)
        ]
        license_provision(host=host, items=items, actor=actor, livemode=True)
        keys[name] = issued.raw_key
    month_close(month=month, actor=actor)
    return keys


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="needs schemathesis: pip install -r requirements-dev.txt")
def test_schemathesis_finds_nothing_in_any_operation(two_hosts, tmp_path):
    auth = tmp_path / "auth.json"
    auth.write_text(
        json.dumps(
            {
                "auth": [
                    {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
                    for name, key in two_hosts.items()
                ]
            }
        )
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(auth=auth))
    # The rate limits are the one thing raised: a fuzzer is a very busy client, and 429 is documented anyway.
    limits = {"HOST_API_RATE_LIMIT": "1000000/min", "HEARTBEAT_RATE_LIMIT": "1000000/min"}
    with app_server(workers=2, HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT="1000000/min", **limits) as server:
        command = [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{server.base_url}/api/schema/?format=json",
            "--url",
            server.base_url,
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            # One worker: on Python 3.11, hypothesis describing strategies in two threads at once can
            # hit CPython's "AST constructor recursion depth mismatch" (ast.parse is not thread-safe there).
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ]
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # About 90 s alone on 2 cores; the bound only stops a hung run, so it leaves room for a busy machine.
            output, _ = process.communicate(timeout=300)
        finally:
            stop_process(process)
        server_log = server.output(limit=None)

    summary = output[output.find("SUMMARY") :]
    print(f"\n[fuzz] schemathesis, {EXAMPLES} examples per operation, seed {SEED}:\n{summary}")
    assert process.returncode == 0, output[-15000:]
    assert "will not run" not in output, output  # e.g. object-level authorization without two peers
    # No 500 was logged, whatever schemathesis saw: the whole log is read, however long the run.
    errors = [line for line in server_log.splitlines() if '"level": "ERROR"' in line]
    assert not errors, "\n".join(errors[:20])
