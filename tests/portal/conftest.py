import pytest
from django.test import Client

from audit.services import Actor
from portal.services import invitation_accept, invitation_create
from tests.factories import HostFactory

PASSWORD = "a-long-partner-password-1"


def make_partner(host, email, role="owner"):
    """A partner user who joined `host` through an invitation, as people do."""
    sent = invitation_create(host=host, email=email, role=role, actor=Actor.command("tests"))
    token = sent.link.rstrip("/").rsplit("/", 1)[1]
    return invitation_accept(token=token, password=PASSWORD).user


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def host(db):
    """Created long ago, so its past months have bills."""
    return HostFactory(company_name="Acme Hosting", contact_email="ops@acme.test")


@pytest.fixture
def owner(host):
    return make_partner(host, "owner@acme.test", "owner")


@pytest.fixture
def member(host):
    return make_partner(host, "member@acme.test", "member")


@pytest.fixture
def owner_client(owner):
    return client_for(owner)


@pytest.fixture
def member_client(member):
    return client_for(member)


@pytest.fixture
def other_host(db):
    return HostFactory(company_name="Other Hosting", contact_email="ops@other.test")
