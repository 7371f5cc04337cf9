"""Isolation: every portal URL, walked as a user of host A with host B's ids (404), as a member on
owners' pages (403), and as staff (not a partner user). The walk reads the URL patterns themselves,
so a page added later without its ids here fails the test instead of going unchecked."""

from datetime import timedelta

import pytest
from django.urls import reverse

from audit.services import Actor
from billing.months import month_format, month_latest_closable, month_start
from billing.services import month_close
from events.services import endpoint_create, endpoint_ping
from hosts.services import api_key_issue
from portal import urls as portal_urls
from tests.factories import HostLicenseFactory
from tests.portal.conftest import client_for, make_partner

pytestmark = pytest.mark.django_db

PUBLIC = {
    "login",
    "logout",
    "password_reset",
    "password_reset_sent",
    "password_reset_confirm",
    "password_reset_done",
    "accept_invitation",
}
OWNER_ONLY = {"keys", "key_revoke", "team", "member_remove", "webhooks", "webhook", "webhook_disable", "webhook_retry"}


@pytest.fixture(autouse=True)
def local_webhooks(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def b_ids(host, other_host):
    """Host B's objects, one of each kind a portal URL can name (host A has its own too)."""
    month = month_latest_closable()
    for h in (host, other_host):
        HostLicenseFactory(host=h, provisioned_at=month_start(month) - timedelta(days=5))
    month_close(month=month, actor=Actor.command("tests"))
    b_license = other_host.host_licenses.get()
    b_key = api_key_issue(host=other_host, actor=Actor.command("tests")).api_key
    b_member = make_partner(other_host, "b-owner@other.test").portal_membership
    b_endpoint = endpoint_create(
        host=other_host, url="http://127.0.0.1:9/b", events=["*"], livemode=True, actor=Actor.command("tests")
    )
    b_delivery = endpoint_ping(endpoint=b_endpoint)
    # Host A has its own endpoint and delivery, so B's ids are refused for being B's, not for being alone.
    a_endpoint = endpoint_create(
        host=host, url="http://127.0.0.1:9/a", events=["*"], livemode=True, actor=Actor.command("tests")
    )
    endpoint_ping(endpoint=a_endpoint)
    return {
        "webhook": {"endpoint_id": b_endpoint.pk},
        "webhook_disable": {"endpoint_id": b_endpoint.pk},
        "webhook_retry": {"endpoint_id": b_endpoint.pk, "delivery_id": b_delivery.pk},
        "license": {"license_id": b_license.license_id},
        "license_action": {"license_id": b_license.license_id, "action": "suspend"},
        "invoice": {"number": other_host.invoices.get().number},
        "invoice_pdf": {"number": other_host.invoices.get().number},
        "key_revoke": {"key_id": b_key.key_id},
        "member_remove": {"membership_id": b_member.pk},
        # Bills are named by month alone: host A's page of that month is A's own bill, never B's.
        "bill": {"month": month_format(month)},
        "bill_csv": {"month": month_format(month)},
    }


def portal_names():
    return [p.name for p in portal_urls.urlpatterns]


def test_every_url_is_classified():
    assert set(portal_names()) <= PUBLIC | OWNER_ONLY | {
        "dashboard",
        "mode",
        "licenses",
        "license",
        "license_action",
        "bills",
        "bill",
        "bill_csv",
        "invoices",
        "invoice",
        "invoice_pdf",
    }


def test_host_a_never_reaches_host_b_objects(host, other_host, owner, b_ids):
    client = client_for(owner)
    b_license = b_ids["license"]["license_id"]
    walked = set()
    for pattern in portal_urls.urlpatterns:
        name = pattern.name
        if name in PUBLIC or not pattern.pattern.converters:
            continue
        url = reverse(f"portal:{name}", kwargs=b_ids[name])
        walked.add(name)
        if name in ("bill", "bill_csv"):
            response = client.get(url)
            body = response.content if hasattr(response, "content") else b"".join(response.streaming_content)
            assert response.status_code == 200
            assert other_host.host_licenses.get().server_identifier.encode() not in body, name
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (404, 405), (name, method, response.status_code)
            if response.status_code == 405:
                assert method == "get" and name == "mode"
    assert walked == set(b_ids)
    assert other_host.host_licenses.get(license_id=b_license).status == "active"
    assert other_host.api_keys.filter(revoked_at__isnull=True).count() == 1
    assert other_host.memberships.count() == 1
    assert other_host.webhook_endpoints.get().enabled is True


def test_a_member_gets_403_on_every_owner_page(host, other_host, member, b_ids):
    client = client_for(member)
    own_key = api_key_issue(host=host, actor=Actor.command("tests")).api_key
    own_endpoint = host.webhook_endpoints.get()
    own_ids = {
        "key_revoke": {"key_id": own_key.key_id},
        "member_remove": {"membership_id": member.portal_membership.pk},
        "webhook": {"endpoint_id": own_endpoint.pk},
        "webhook_disable": {"endpoint_id": own_endpoint.pk},
        "webhook_retry": {"endpoint_id": own_endpoint.pk, "delivery_id": own_endpoint.deliveries.get().pk},
    }
    for name in OWNER_ONLY:
        url = reverse(f"portal:{name}", kwargs=own_ids.get(name, {}))
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 403, (name, method)
            assert b"Owners only" in response.content
    assert own_key.__class__.objects.get(pk=own_key.pk).revoked_at is None
    assert own_endpoint.__class__.objects.get(pk=own_endpoint.pk).enabled is True
    assert member.portal_membership.__class__.objects.filter(pk=member.portal_membership.pk).exists()


def test_a_staff_user_is_not_a_partner_user(staff_client, host, b_ids):
    for pattern in portal_urls.urlpatterns:
        if pattern.name in PUBLIC or pattern.name == "mode":
            continue
        url = reverse(f"portal:{pattern.name}", kwargs=b_ids.get(pattern.name, {}))
        assert staff_client.get(url).status_code == 403, pattern.name


def test_a_signed_out_visitor_is_sent_to_sign_in_everywhere(client, b_ids):
    for pattern in portal_urls.urlpatterns:
        if pattern.name in PUBLIC or pattern.name == "mode":
            continue
        url = reverse(f"portal:{pattern.name}", kwargs=b_ids.get(pattern.name, {}))
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/portal/login/"), pattern.name
