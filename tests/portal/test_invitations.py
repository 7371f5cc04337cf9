import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from portal.models import Membership
from tests.factories import HostLicenseFactory
from tests.portal.conftest import PASSWORD, make_partner

pytestmark = pytest.mark.django_db(transaction=False)

LINK = re.compile(r"^http://portal\.example\.test/portal/invitations/[A-Za-z0-9_-]{43}/$", re.MULTILINE)


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = "http://portal.example.test"


def invite(*args, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out = _run(*args)
    return out


def _run(*args):
    from io import StringIO

    out = StringIO()
    call_command("invite_partner_user", *args, stdout=out)
    return out.getvalue()


def test_invite_partner_user_prints_the_link_on_its_own_line_and_mails_the_same(
    host, django_capture_on_commit_callbacks
):
    out = invite(
        host.contact_email,
        "New.Owner@Example.test",
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )
    link = LINK.search(out).group(0)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.owner@example.test"]
    assert link in mail.outbox[0].body.splitlines()
    assert AuditEvent.objects.filter(action="portal.invited", actor_type="command").exists()


def test_the_link_sets_a_password_once_then_the_person_signs_in(client, host, django_capture_on_commit_callbacks):
    out = invite(
        host.contact_email, "owner@acme.test", django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    path = LINK.search(out).group(0).removeprefix("http://portal.example.test")
    page = client.get(path)
    assert page.status_code == 200
    assert page["Cache-Control"].count("no-store")
    assert b"Acme Hosting" in page.content
    response = client.post(path, {"password": PASSWORD, "password_again": PASSWORD})
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="owner@acme.test")
    assert (membership.host, membership.role) == (host, "owner")
    assert client.get(path).status_code == 404  # used once
    assert client.post(path, {"password": PASSWORD, "password_again": PASSWORD}).status_code == 404
    login = client.post("/portal/login/", {"email": "OWNER@acme.test", "password": PASSWORD})
    assert login.status_code == 302 and login["Location"] == "/portal/"
    assert b"Acme Hosting" in client.get("/portal/").content


def test_a_weak_or_mismatched_password_is_refused_and_the_link_stays_good(
    client, host, django_capture_on_commit_callbacks
):
    out = invite(
        host.contact_email, "owner@acme.test", django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    path = LINK.search(out).group(0).removeprefix("http://portal.example.test")
    assert b"differ" in client.post(path, {"password": PASSWORD, "password_again": PASSWORD + "x"}).content
    assert client.post(path, {"password": "123", "password_again": "123"}).status_code == 200
    assert not Membership.objects.exists()
    assert client.post(path, {"password": PASSWORD, "password_again": PASSWORD}).status_code == 302


def test_the_link_expires_after_72_hours(client, host, django_capture_on_commit_callbacks):
    out = invite(
        host.contact_email, "owner@acme.test", django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    path = LINK.search(out).group(0).removeprefix("http://portal.example.test")
    with time_machine.travel(timezone.now() + timedelta(hours=71, minutes=59)):
        assert client.get(path).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=72, minutes=1)):
        assert client.get(path).status_code == 404
        assert client.post(path, {"password": PASSWORD, "password_again": PASSWORD}).status_code == 404
    assert not Membership.objects.exists()


def test_an_unknown_token_is_not_found(client, db):
    assert client.get("/portal/invitations/" + "x" * 43 + "/").status_code == 404


@pytest.mark.parametrize("who", ["customer", "staff", "other_member", "same_member"])
def test_an_address_that_belongs_to_someone_else_is_refused(host, other_host, staff_user, who):
    email = {
        "customer": lambda: HostLicenseFactory(host=host).customer_email,
        "staff": lambda: staff_user.email,
        "other_member": lambda: make_partner(other_host, "taken@other.test").email,
        "same_member": lambda: make_partner(host, "taken@acme.test").email,
    }[who]()
    with pytest.raises(CommandError, match=r"belongs to|already a member"):
        _run(host.contact_email, email.upper())


def test_the_command_refuses_an_unknown_host_and_a_bad_address(host):
    with pytest.raises(CommandError, match="No host"):
        _run("nobody@nowhere.test", "a@b.test")
    with pytest.raises(CommandError, match="valid e-mail"):
        _run(host.contact_email, "not an address")


def test_a_partner_user_is_never_the_customer_of_the_same_address(host):
    user = make_partner(host, "both@acme.test")
    assert user.username != "both@acme.test"
    assert get_user_model().objects.filter(email="both@acme.test").count() == 1


def test_staff_invite_the_first_owner_from_the_host_admin(staff_client, host, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/hosts/host/",
            {"action": "invite_partner_owner", "_selected_action": [str(host.pk)]},
            follow=True,
        )
    assert response.status_code == 200
    assert mail.outbox[0].to == [host.contact_email]
    assert "/portal/invitations/" in mail.outbox[0].body
    event = AuditEvent.objects.get(action="portal.invited")
    assert (event.actor_type, event.actor) == ("staff", "staff")


def test_check_integrity_reports_a_staff_member(host, django_capture_on_commit_callbacks):
    from io import StringIO

    user = make_partner(host, "later-staff@acme.test")
    call_command("check_integrity", stdout=StringIO())
    get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
    out = StringIO()
    with pytest.raises((CommandError, SystemExit)):
        call_command("check_integrity", stdout=out, stderr=out)
    assert "staff are not partner users" in out.getvalue()
