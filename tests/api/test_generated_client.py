"""A partner's flow through a client generated from the OpenAPI document by openapi-python-client.

The client is generated from the document the live server serves, into a temporary folder, offline
(its ruff post-hooks off), imported, and driven against that server over real HTTP. When a step
cannot be written with the generated client, the document is what is wrong: fix it, not this test.
"""

import csv
import importlib
import io
import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from audit.services import Actor
from billing.months import month_format
from hosts.services import host_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "corrosion_client"


@pytest.fixture(scope="module")
def generated(live_server, tmp_path_factory, django_db_blocker):
    """The generated package's modules, by short name: `api["licenses_list"]`, `models.License`."""
    if not GENERATOR.exists():
        pytest.fail("needs openapi-python-client: pip install -r requirements-dev.txt")
    folder = tmp_path_factory.mktemp("client")
    # The server checks its database connection on every request (on SQLite it shares this thread's).
    with django_db_blocker.unblock(), urllib.request.urlopen(f"{live_server.url}/api/schema/?format=json") as answer:
        (folder / "openapi.json").write_bytes(answer.read())
    # No post-hooks: by default the generator runs `ruff` from PATH, which may be absent, or another version.
    # application/pdf (an invoice) is binary to this generator only when told, as its docs say to.
    config = {
        "package_name_override": PACKAGE,
        "post_hooks": [],
        "content_type_overrides": {"application/pdf": "application/octet-stream"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(folder / "openapi.json"),
            "--config",
            str(folder / "config.json"),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The generator exits 0 even when it skipped an operation it could not read; it says so in a warning.
    assert result.returncode == 0 and "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr

    sys.path.insert(0, str(folder))
    try:
        client = importlib.import_module(PACKAGE)
        models = importlib.import_module(f"{PACKAGE}.models")
        api = {
            path.stem: importlib.import_module(f"{PACKAGE}.api.{path.parent.name}.{path.stem}")
            for path in (folder / PACKAGE / "api").glob("*/*.py")
            if path.stem != "__init__"
        }
        yield client, models, api
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture
def partner(generated, live_server):
    """A new host's authenticated client (a fresh host each test: the database is emptied between them)."""
    client_module, _, _ = generated
    suffix = uuid.uuid4().hex[:8]
    _, issued = host_create(
        company_name=f"Client {suffix}", contact_email=f"ops@{suffix}.test", actor=Actor.command("tests")
    )
    with client_module.AuthenticatedClient(base_url=live_server.url, token=issued.raw_key) as client:
        yield client


def item(models, server_id, hostname=None, email=None):
    return models.ProvisionItem(
        server_id=server_id,
        hostname=hostname or f"{server_id}.play.test",
        customer_email=email or f"owner@{server_id}.test",
    )


def cursor_of(link):
    """The `cursor` query parameter of a page's `next` or `previous` URL, as the document says."""
    return parse_qs(urlsplit(link).query)["cursor"][0]


def test_provision_one_then_bulk_then_retry_then_a_conflict(generated, partner):
    _, models, api = generated
    provision = api["licenses_provision"]

    one = provision.sync_detailed(client=partner, body=item(models, "rust-1"))
    assert one.status_code == 201
    assert isinstance(one.parsed, models.License)
    assert one.parsed.server_id == "rust-1"
    assert one.parsed.status == models.LicenseStatus.ACTIVE

    bulk = provision.sync_detailed(client=partner, body=[item(models, "rust-2"), item(models, "rust-3")])
    assert bulk.status_code == 201
    assert [license.server_id for license in bulk.parsed] == ["rust-2", "rust-3"]

    retry = provision.sync_detailed(client=partner, body=item(models, "rust-1", hostname="RUST-1.play.test"))
    assert retry.status_code == 200
    assert retry.parsed.id == one.parsed.id

    conflict = provision.sync_detailed(
        client=partner, body=[item(models, "rust-4"), item(models, "rust-2", hostname="elsewhere.play.test")]
    )
    assert conflict.status_code == 409
    assert isinstance(conflict.parsed, models.Error)
    assert conflict.parsed.error.code == "server_id_conflict"
    per_item = conflict.parsed.error.fields.additional_properties
    assert set(per_item) == {"1"}
    assert isinstance(per_item["1"], models.ItemConflict)
    assert per_item["1"].code == "server_id_conflict"
    assert "rust-2" in per_item["1"].message


def test_pages_to_the_end_with_a_small_page_size(generated, partner):
    _, models, api = generated
    created = api["licenses_provision"].sync(client=partner, body=[item(models, f"rust-{n}") for n in range(7)])

    seen, cursor, pages = [], None, 0
    while True:
        kwargs = {"cursor": cursor} if cursor else {}
        page = api["licenses_list"].sync(client=partner, page_size=3, **kwargs)
        assert isinstance(page, models.LicensePage)
        seen += [license.id for license in page.results]
        pages += 1
        if page.next_ is None:
            break
        cursor = cursor_of(page.next_)
    assert pages == 3
    assert sorted(seen) == sorted(license.id for license in created)

    back = api["licenses_list"].sync(client=partner, page_size=3, cursor=cursor_of(page.previous))
    assert len(back.results) == 3


def test_suspend_and_filter_by_the_status_enum(generated, partner):
    _, models, api = generated
    first, _ = api["licenses_provision"].sync(client=partner, body=[item(models, "rust-a"), item(models, "rust-b")])

    suspended = api["licenses_suspend"].sync(client=partner, license_id=first.id)
    assert isinstance(suspended, models.License)
    assert suspended.status == models.LicenseStatus.SUSPENDED

    page = api["licenses_list"].sync(client=partner, status=models.LicenseStatus.SUSPENDED)
    assert [license.id for license in page.results] == [first.id]


def test_the_bill_as_json_and_as_csv(generated, partner):
    _, models, api = generated
    api["licenses_provision"].sync(client=partner, body=[item(models, "rust-x"), item(models, "rust-y")])
    month = month_format(timezone.now().date())

    bill = api["billing_retrieve"].sync(client=partner, month=month)
    assert isinstance(bill, models.Bill)
    assert bill.status == models.BillStatus.OPEN
    assert bill.active_license_count == 2
    assert sorted(line.server_id for line in bill.lines) == ["rust-x", "rust-y"]
    assert {line.status for line in bill.lines} == {models.LicenseStatus.ACTIVE}

    text = api["billing_retrieve_csv"].sync(client=partner, month=month)
    assert isinstance(text, str)
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[:2] == ["month", "server_id"]
    assert sorted(row[1] for row in rows) == ["rust-x", "rust-y"]

    bills = api["billing_list"].sync(client=partner)
    assert isinstance(bills, models.BillPage)


def test_a_heartbeat(generated, partner, live_server):
    client_module, models, api = generated
    license = api["licenses_provision"].sync(client=partner, body=item(models, "rust-hb"))

    with client_module.Client(base_url=live_server.url) as plugin:
        answer = api["plugin_heartbeat"].sync(
            client=plugin, body=models.HeartbeatRequest(license_key=license.license_key, version="2.4.1", players=3)
        )
    assert isinstance(answer, models.HeartbeatResponse)
    assert answer.status == models.LicenseStatus.ACTIVE
    assert answer.valid is True
