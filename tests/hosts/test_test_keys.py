"""Test-mode API keys, `crn_test_<key id>_<secret>`: issued by the command and the admin, listed with
their mode, and deciding the mode of every request they make (SPEC: Test mode)."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from audit.models import AuditEvent
from hosts.models import HostAPIKey
from hosts.services import api_key_issue

pytestmark = pytest.mark.django_db

TEST_KEY = re.compile(r"crn_test_([a-z0-9]{8})_[A-Za-z0-9]{43,}")
ITEM = {"server_id": "rust-1", "hostname": "play.acme.test", "customer_email": "gamer@example.test"}


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def client_for(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_issue_api_key_test_prints_a_test_key_that_provisions_test_licenses(host):
    output = run("issue_api_key", host.contact_email, "--test", "--name", "sandbox")
    raw_key = TEST_KEY.search(output).group(0)
    key_id = TEST_KEY.search(output).group(1)
    assert "Issued test key" in output
    key = HostAPIKey.objects.get(key_id=key_id)
    assert (key.livemode, key.name) == (False, "sandbox")
    assert AuditEvent.objects.get(action="api_key.issued", data__key_id=key_id).data["livemode"] is False

    body = client_for(raw_key).post("/api/host/provision", ITEM, format="json").json()
    assert body["livemode"] is False
    assert body["license_key"].startswith("CRN-TEST-")


def test_issue_api_key_without_test_is_live(host):
    output = run("issue_api_key", host.contact_email)
    assert not TEST_KEY.search(output)
    assert "Issued live key" in output
    assert HostAPIKey.objects.filter(host=host, livemode=False).count() == 0


def test_list_api_keys_shows_each_keys_mode(host):
    run("issue_api_key", host.contact_email, "--test")
    lines = run("list_api_keys", host.contact_email).splitlines()
    assert lines[0].split()[:2] == ["KEY", "ID"] and "MODE" in lines[0]
    modes = sorted(line.split()[1] for line in lines[1:])
    assert modes == ["live", "test"]


def test_a_key_works_only_with_the_prefix_it_was_issued_with(host, command_actor):
    test_key = api_key_issue(host=host, livemode=False, actor=command_actor).raw_key
    live_key = api_key_issue(host=host, actor=command_actor).raw_key
    assert client_for(test_key).get("/api/host/licenses").status_code == 200
    assert client_for(live_key).get("/api/host/licenses").status_code == 200
    # A test key passed off as live, and a live key passed off as test: unknown keys, 401.
    assert client_for(test_key.replace("crn_test_", "crn_")).get("/api/host/licenses").status_code == 401
    assert client_for(live_key.replace("crn_", "crn_test_")).get("/api/host/licenses").status_code == 401


def test_the_admin_issues_a_test_key_shown_once_and_marked(staff_client, host):
    response = staff_client.post(
        "/admin/hosts/host/", {"action": "issue_test_api_key", "_selected_action": [str(host.pk)]}
    )
    assert response.status_code == 302
    page = staff_client.get(response["Location"]).content.decode()
    raw_key = TEST_KEY.search(page).group(0)
    assert 'class="mode-test"' in page
    assert HostAPIKey.objects.get(key_id=TEST_KEY.search(page).group(1)).livemode is False
    assert client_for(raw_key).get("/api/host/licenses").status_code == 200


def test_the_key_list_shows_and_filters_the_mode(staff_client, host):
    run("issue_api_key", host.contact_email, "--test")
    test_key = HostAPIKey.objects.get(livemode=False)
    live_key = HostAPIKey.objects.get(livemode=True)
    page = staff_client.get("/admin/hosts/hostapikey/").content.decode()
    assert page.count('class="mode-test"') == 1
    only_test = staff_client.get("/admin/hosts/hostapikey/", {"mode": "test"}).content.decode()
    assert test_key.key_id in only_test and live_key.key_id not in only_test
    only_live = staff_client.get("/admin/hosts/hostapikey/", {"mode": "live"}).content.decode()
    assert live_key.key_id in only_live and test_key.key_id not in only_live
