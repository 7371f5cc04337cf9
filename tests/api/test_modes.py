"""Test mode's two worlds never see each other (SPEC: Test mode).

Every host endpoint is walked, found from the URL patterns (so an endpoint added later is walked
too), with a live key and a test key of the same host, each aimed at the other mode's license: the
other mode's id is 404 on every method, no answer carries the other mode's license, and nothing of
the other mode changes.
"""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import BillingRecord, Invoice
from licensing.models import HostLicense, LicenseStatus
from tests.modes import in_mode

pytestmark = pytest.mark.django_db

HOST_PREFIX = "api/host/"
# Every host endpoint there is today: the walk must find at least these (it finds new ones by itself).
KNOWN = {
    "api/host/provision",
    "api/host/licenses",
    "api/host/licenses/<uuid:license_id>",
    "api/host/licenses/<uuid:license_id>/suspend",
    "api/host/licenses/<uuid:license_id>/resume",
    "api/host/licenses/<uuid:license_id>/terminate",
    "api/host/billing",
    "api/host/billing/<str:month>.csv",
    "api/host/billing/<str:month>",
    "api/host/invoices",
    "api/host/invoices/<str:number>",
    "api/host/invoices/<str:number>.pdf",
}
ITEM = {"server_id": "rust-nyc-01", "hostname": "play.acme.test", "customer_email": "gamer@example.test"}


def host_routes(patterns=None, prefix=""):
    """(route, view class) of every URL pattern under /api/host/."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from host_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith(HOST_PREFIX):
            yield route, pattern.callback.view_class


def methods(view_class):
    return [m for m in ("get", "post", "patch", "put", "delete") if hasattr(view_class, m)]


def fill(route, *, license_id, month, number=""):
    path = (
        route.replace("<uuid:license_id>", str(license_id))
        .replace("<str:month>", month)
        .replace("<str:number>", number)
    )
    assert "<" not in path, f"a new kind of path parameter to fill in: {route}"
    return "/" + path


def body_for(route, method):
    if method == "patch":
        return {"hostname": "taken-over.example.test"}
    if route.endswith("provision"):
        return ITEM  # the same server and customer as the other mode's license
    return None


def call(client, method, path, body):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


def text_of(response):
    if response.streaming:  # the CSV bill
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def client_for(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def worlds(host_with_key, command_actor):
    """The same host's live and test clients, each with one license for the same server_id."""
    _, live_key = in_mode(host_with_key, True, command_actor)
    _, test_key = in_mode(host_with_key, False, command_actor)
    live, test = client_for(live_key), client_for(test_key)
    licenses = {}
    for mode, client in (("live", live), ("test", test)):
        response = client.post("/api/host/provision", ITEM, format="json")
        assert response.status_code == 201, response.content  # per mode: the same server_id twice is fine
        licenses[mode] = response.json()
    # A live invoice: test mode has none, so the test key aims at this one and the live key at a
    # number that is nobody's (there is no test invoice to aim at).
    host = host_with_key[0]
    record = BillingRecord.objects.create(
        host=host,
        billing_month=date(2026, 3, 1),
        active_license_count=1,
        wholesale_rate_usd=Decimal("6.00"),
        total_amount_usd=Decimal("6.00"),
        generated_at=timezone.now(),
    )
    invoice = Invoice.objects.create(
        record=record,
        host=host,
        billing_month=record.billing_month,
        year=2026,
        sequence=1,
        number="INV-2026-00001",
        issued_at=timezone.now(),
        due_date=date(2026, 5, 1),
        active_license_count=1,
        wholesale_rate_usd=Decimal("6.00"),
        total_amount_usd=Decimal("6.00"),
        issuer_name="Corrosion",
        buyer_company_name=host.company_name,
        buyer_contact_email=host.contact_email,
    )
    return {
        "live": (live, licenses["live"], "INV-1999-99999"),
        "test": (test, licenses["test"], invoice.number),
    }


def secrets_of(license):
    return [license["id"], license["license_key"], license["companion_token"]]


def test_the_walk_finds_every_host_endpoint():
    assert {route for route, _ in host_routes()} >= KNOWN


@pytest.mark.parametrize("mode, other", [("live", "test"), ("test", "live")])
def test_neither_mode_sees_or_touches_the_other_on_any_endpoint(worlds, mode, other):
    client, _, _ = worlds[mode]
    _, theirs, _ = worlds[other]
    their_invoice = worlds[mode][2]
    month = f"{timezone.now():%Y-%m}"
    walked = 0
    for route, view_class in host_routes():
        for method in methods(view_class):
            aimed_at_theirs = "<uuid:license_id>" in route or "<str:number>" in route
            path = fill(route, license_id=theirs["id"], month=month, number=their_invoice)
            response = call(client, method, path, body_for(route, method))
            walked += 1
            text = text_of(response)
            if aimed_at_theirs:
                assert response.status_code == 404, (mode, method, path, text)
            else:
                assert response.status_code < 400, (mode, method, path, text)
            for secret in secrets_of(theirs):
                assert secret not in text, f"{mode} key's {method.upper()} {path} shows the {other} license"
    assert walked >= len(KNOWN)

    # Nothing of the other world changed: the PATCH and status changes above were refused.
    their_row = HostLicense.objects.select_related("license").get(license_id=theirs["id"])
    assert (their_row.status, their_row.license.hostname) == (LicenseStatus.ACTIVE, ITEM["hostname"])
    assert their_row.livemode is (other == "live")


@pytest.mark.parametrize("mode", ["live", "test"])
def test_each_mode_sees_its_own_license_on_every_license_endpoint(worlds, mode):
    """The other side of the walk: the same paths with the key's own id answer (so the 404s above
    are the mode's doing, not a broken path)."""
    client, own, _ = worlds[mode]
    for route, view_class in host_routes():
        if "<uuid:license_id>" in route and "get" in methods(view_class):
            response = client.get(fill(route, license_id=own["id"], month=""))
            assert response.status_code == 200, (route, response.content)
            assert response.json()["livemode"] is (mode == "live")
    listed = client.get("/api/host/licenses").json()["results"]
    assert [row["id"] for row in listed] == [own["id"]]
    assert re.fullmatch(r"CRN-TEST-.+" if mode == "test" else r"CRN-(?!TEST-).+", own["license_key"])


def test_a_retry_is_a_retry_only_within_its_mode(worlds):
    """Provisioning the same server again answers each key its own mode's license, never the other's."""
    for mode in ("live", "test"):
        client, own, _ = worlds[mode]
        again = client.post("/api/host/provision", ITEM, format="json")
        assert again.status_code == 200
        assert again.json()["id"] == own["id"]
    assert HostLicense.objects.count() == 2
