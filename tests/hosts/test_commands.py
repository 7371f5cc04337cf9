import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from audit.models import AuditEvent
from hosts.models import Host, HostAPIKey

pytestmark = pytest.mark.django_db

KEY_LINE = re.compile(r"API key \(shown once, store it now\): (crn_[a-z0-9]{8}_[A-Za-z0-9]{43,})")


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def status_with(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.get("/api/host/licenses").status_code


def create(email="ops@nyc.test", *extra):
    output = run("create_host", "--company", "NYC Hosting", "--email", email, *extra)
    return output, KEY_LINE.search(output).group(1)


def test_create_host_prints_a_working_key_once_with_its_key_id():
    output, raw_key = create()
    key_id = raw_key.split("_")[1]
    assert f"Key id: {key_id}" in output
    assert output.count(raw_key) == 1
    host = Host.objects.get(contact_email="ops@nyc.test")
    assert host.wholesale_rate_usd == Decimal("6.00")
    assert host.rates.get().wholesale_rate_usd == Decimal("6.00")
    assert status_with(raw_key) == 200
    actions = set(AuditEvent.objects.filter(actor="create_host").values_list("action", flat=True))
    assert actions == {"host.created", "api_key.issued"}


def test_create_host_takes_a_rate():
    create("ops@cheap.test", "--rate", "4.5")
    assert Host.objects.get(contact_email="ops@cheap.test").wholesale_rate_usd == Decimal("4.50")


@pytest.mark.parametrize("rate", ["-1", "abc"])
def test_create_host_refuses_a_bad_rate(rate):
    with pytest.raises(CommandError):
        create("ops@bad.test", "--rate", rate)
    assert not Host.objects.exists()


def test_create_host_refuses_an_email_taken_in_another_case():
    create("ops@nyc.test")
    with pytest.raises(CommandError, match="already exists"):
        create("OPS@NYC.test")
    assert Host.objects.count() == 1


def test_update_host_keeps_each_rate_with_its_time_and_audits_it():
    create()
    run("update_host", "OPS@nyc.test", "--rate", "5.25")
    host = Host.objects.get()
    assert host.wholesale_rate_usd == Decimal("5.25")
    assert [r.wholesale_rate_usd for r in host.rates.order_by("effective_from")] == [Decimal("6.00"), Decimal("5.25")]
    event = AuditEvent.objects.get(action="host.updated")
    assert event.actor == "update_host"
    assert event.data == {"wholesale_rate_usd": ["6.00", "5.25"]}


def test_update_host_deactivates_and_reactivates_api_access():
    _, raw_key = create()
    run("update_host", "ops@nyc.test", "--deactivate")
    assert status_with(raw_key) == 401
    run("update_host", "ops@nyc.test", "--activate")
    assert status_with(raw_key) == 200
    assert AuditEvent.objects.filter(action="host.updated").count() == 2


def test_update_host_needs_a_change_and_a_known_host():
    create()
    with pytest.raises(CommandError, match="Nothing to change"):
        run("update_host", "ops@nyc.test")
    with pytest.raises(CommandError, match="No host"):
        run("update_host", "nobody@nyc.test", "--rate", "1")


def test_issue_list_and_revoke_keys():
    _, first = create()
    output = run("issue_api_key", "ops@nyc.test", "--name", "rotation")
    second = KEY_LINE.search(output).group(1)
    assert status_with(first) == status_with(second) == 200

    listing = run("list_api_keys", "ops@nyc.test")
    for raw_key in (first, second):
        assert raw_key.split("_")[1] in listing
        assert raw_key.split("_")[2] not in listing
    assert "rotation" in listing

    run("revoke_api_key", first.split("_")[1])
    assert status_with(first) == 401
    assert status_with(second) == 200
    assert "revoked" in run("list_api_keys", "ops@nyc.test")
    assert HostAPIKey.objects.filter(revoked_at__isnull=False).count() == 1
    assert AuditEvent.objects.filter(action="api_key.revoked", actor="revoke_api_key").count() == 1


def test_revoke_api_key_refuses_an_unknown_key_id():
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_api_key", "zzzzzzzz")
