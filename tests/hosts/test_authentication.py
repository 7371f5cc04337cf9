import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.services import Actor
from hosts.models import HostAPIKey
from hosts.services import api_key_issue, api_key_revoke, host_update

pytestmark = pytest.mark.django_db

URL = "/api/host/licenses"
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "Missing or invalid API key."}}


def _get(raw_header=None):
    client = APIClient()
    if raw_header is not None:
        client.credentials(HTTP_AUTHORIZATION=raw_header)
    return client.get(URL)


def _assert_unauthorized(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == UNAUTHORIZED


def test_a_valid_key_authenticates(api_key):
    response = _get(f"Bearer {api_key}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token crn_abcdefgh_" + "a" * 43,
        "Bearer not-a-key",
        "Bearer crn_ABCDEFGH_" + "a" * 43,
        "Bearer crn_abcdefgh_" + "a" * 10,
        "Bearer crn_abcdefgh_" + "a" * 43 + "!",
        "Bearer crn_abcdefgh_" + "a" * 43,  # well-formed, unknown
        "Bearer crn_abcdefgh_" + "é" * 43,
    ],
)
def test_every_bad_key_gets_the_same_401(db, header):
    _assert_unauthorized(_get(header))


def test_a_known_key_id_with_a_wrong_secret_gets_the_same_401(host, api_key):
    key_id = api_key.split("_")[1]
    _assert_unauthorized(_get(f"Bearer crn_{key_id}_{'B' * 43}"))


def test_a_revoked_key_gets_401_and_stays_revoked(api_key, command_actor):
    key_id = api_key.split("_")[1]
    api_key_revoke(key_id=key_id, actor=command_actor)
    _assert_unauthorized(_get(f"Bearer {api_key}"))
    revoked_at = HostAPIKey.objects.get(key_id=key_id).revoked_at
    api_key_revoke(key_id=key_id, actor=command_actor)
    assert HostAPIKey.objects.get(key_id=key_id).revoked_at == revoked_at
    _assert_unauthorized(_get(f"Bearer {api_key}"))


def test_a_key_of_an_inactive_host_gets_401_and_works_again_when_reactivated(host, api_key, command_actor):
    host_update(host=host, active=False, actor=command_actor)
    _assert_unauthorized(_get(f"Bearer {api_key}"))
    host_update(host=host, active=True, actor=command_actor)
    assert _get(f"Bearer {api_key}").status_code == 200


def test_two_keys_of_one_host_both_work_until_one_is_revoked(host, api_key, command_actor):
    second = api_key_issue(host=host, name="rotation", actor=command_actor).raw_key
    assert _get(f"Bearer {api_key}").status_code == 200
    assert _get(f"Bearer {second}").status_code == 200
    api_key_revoke(key_id=api_key.split("_")[1], actor=command_actor)
    _assert_unauthorized(_get(f"Bearer {api_key}"))
    assert _get(f"Bearer {second}").status_code == 200


def test_the_key_check_is_one_query(api_key, django_assert_num_queries):
    _get(f"Bearer {api_key}")  # first use writes last_used_at
    with django_assert_num_queries(2):  # the key with its host, then the (empty) license page
        assert _get(f"Bearer {api_key}").status_code == 200


def test_last_used_is_written_at_most_every_few_minutes(api_key):
    key_id = api_key.split("_")[1]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _get(f"Bearer {api_key}")
    assert HostAPIKey.objects.get(key_id=key_id).last_used_at == start
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        _get(f"Bearer {api_key}")
    assert HostAPIKey.objects.get(key_id=key_id).last_used_at == start
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        _get(f"Bearer {api_key}")
    assert HostAPIKey.objects.get(key_id=key_id).last_used_at == start + timedelta(minutes=5)


def test_issued_keys_have_the_contract_format(host):
    issued = api_key_issue(host=host, actor=Actor.command("tests"))
    prefix, key_id, secret = issued.raw_key.split("_")
    assert prefix == "crn"
    assert key_id == issued.api_key.key_id
    assert re.fullmatch(r"[a-z0-9]{8}", key_id)
    assert re.fullmatch(r"[A-Za-z0-9]{43,}", secret)


def test_no_raw_key_or_secret_is_stored_anywhere(host, api_key, command_actor):
    second = api_key_issue(host=host, name="second", actor=command_actor).raw_key
    _get(f"Bearer {api_key}")
    secrets = [api_key, api_key.split("_")[2], second, second.split("_")[2]]
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row)
                found += [(table, secret) for secret in secrets if secret in text]
    assert found == []
