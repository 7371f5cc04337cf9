import pytest

from tests.billing.helpers import at


@pytest.fixture
def frozen(time_machine):
    """The clock stopped on 2026-06-10 12:00 UTC: May 2026 is closable, June is open."""
    time_machine.move_to(at(2026, 6, 10, 12), tick=False)
    return time_machine


@pytest.fixture
def host_with_key(db, command_actor, frozen):
    """The API tests' host, created at the start of 2026: a month before its creation has no bill."""
    from hosts.services import host_create

    frozen.move_to(at(2026, 1, 5), tick=False)
    host, issued = host_create(company_name="Acme Hosting", contact_email="ops@acme.test", actor=command_actor)
    frozen.move_to(at(2026, 6, 10, 12), tick=False)
    return host, issued.raw_key


@pytest.fixture
def other_host_client(db, command_actor, frozen):
    """A second host's client, created with the first, for proving one host never sees another's bills."""
    from rest_framework.test import APIClient

    from hosts.services import host_create

    frozen.move_to(at(2026, 1, 5), tick=False)
    _, issued = host_create(company_name="Other Hosting", contact_email="ops@other.test", actor=command_actor)
    frozen.move_to(at(2026, 6, 10, 12), tick=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    return client


@pytest.fixture(params=["one statement", "batches"])
def close_path(request, monkeypatch, is_postgres):
    """Both ways the close writes: PostgreSQL's one INSERT ... SELECT, and the batches SQLite uses
    (run on PostgreSQL too, so both paths are held to the same tests there)."""
    if request.param == "one statement" and not is_postgres:
        pytest.skip("the one-statement close is PostgreSQL's")
    monkeypatch.setattr("billing.services._in_one_statement", lambda: request.param == "one statement")
    return request.param
