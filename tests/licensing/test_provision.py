import re

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from licensing.models import HostLicense, License, LicenseStatus
from tests.licensing.emails import ACCEPTED, EDGE_ADDRESSES, REFUSED
from tests.modes import in_mode

pytestmark = pytest.mark.django_db

URL = "/api/host/provision"
FIELDS = {
    "id",
    "server_id",
    "hostname",
    "customer_email",
    "status",
    "livemode",
    "license_key",
    "companion_token",
    "plugin_download_url",
    "subdomain",
    "panel_url",
    "provisioned_at",
    "last_seen_at",
    "online",
}


@pytest.fixture
def host_with_key(host_with_key, livemode, command_actor):
    """Every test here runs twice: with the host's live key, then with a test key (SPEC: Test mode):
    provisioning behaves the same in both worlds."""
    return in_mode(host_with_key, livemode, command_actor)


def item(n=1, **overrides):
    return {
        "server_id": f"rust-nyc-{n:02d}",
        "hostname": f"play{n}.acme.test",
        "customer_email": f"gamer{n}@example.test",
        **overrides,
    }


def provision(client, body):
    return client.post(URL, body, format="json")


def test_it_provisions_one_license(host_client, settings, livemode):
    response = provision(host_client, item())
    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert body["server_id"] == "rust-nyc-01"
    assert body["status"] == "active"
    assert body["livemode"] is livemode
    test_marker = "" if livemode else "-TEST"
    assert re.fullmatch(rf"CRN{test_marker}(-[0-9A-HJKMNP-TV-Z]{{5}}){{6}}", body["license_key"])
    assert len(body["companion_token"]) >= 43
    assert body["subdomain"].startswith("play1-acme-test-")
    assert body["panel_url"] == f"https://{body['subdomain']}.{settings.PANEL_BASE_DOMAIN}"
    assert body["plugin_download_url"] == settings.PLUGIN_DOWNLOAD_URL
    assert body["online"] is False and body["last_seen_at"] is None
    license = License.objects.get(pk=body["id"])
    assert license.customer.email == "gamer1@example.test"
    assert license.host_license.server_identifier == "rust-nyc-01"
    assert license.livemode is livemode and license.host_license.livemode is livemode
    event = AuditEvent.objects.get(action="license.provisioned")
    assert event.target_id == body["id"]
    assert event.actor_type == "host_key"


def test_a_retry_returns_the_same_license_and_creates_nothing(host_client):
    first = provision(host_client, item()).json()
    again = provision(host_client, item(hostname="PLAY1.ACME.TEST", customer_email="Gamer1@Example.TEST"))
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["license_key"] == first["license_key"]
    assert License.objects.count() == 1
    assert AuditEvent.objects.filter(action="license.provisioned").count() == 1


@pytest.mark.parametrize("change", [{"hostname": "other.acme.test"}, {"customer_email": "someone@else.test"}])
def test_a_conflicting_server_id_is_409(host_client, change):
    provision(host_client, item())
    response = provision(host_client, item(**change))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "server_id_conflict"
    assert License.objects.count() == 1


def test_the_customer_is_found_by_email_ignoring_case(host_client):
    provision(host_client, item(1, customer_email="Gamer@Example.test"))
    provision(host_client, item(2, customer_email="gamer@EXAMPLE.test"))
    assert get_user_model().objects.filter(username="gamer@example.test").count() == 1
    assert License.objects.filter(customer__username="gamer@example.test").count() == 2


def test_the_same_server_id_at_two_hosts_is_two_licenses(host_client, other_host_client):
    a = provision(host_client, item()).json()
    b = provision(other_host_client, item()).json()
    assert a["id"] != b["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hostname": "a", "customer_email": "a@b.test"}, "server_id"),
        (item(server_id=""), "server_id"),
        (item(server_id="x" * 256), "server_id"),
        (item(server_id="bad\x00id"), "server_id"),
        (item(server_id="tab\tid"), "server_id"),
        (item(hostname=""), "hostname"),
        (item(hostname="h" * 256), "hostname"),
        (item(customer_email="not-an-email"), "customer_email"),
        (item(customer_email=None), "customer_email"),
        (item(server_id=42), "server_id"),
        (item(hostname=1.5), "hostname"),
        (item(hostname=["a"]), "hostname"),
        (item(customer_email=("x" * 242) + "@example.test"), "customer_email"),  # 255 characters
    ],
)
def test_an_invalid_item_is_400_naming_the_field(host_client, body, field):
    response = provision(host_client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert License.objects.count() == 0


def test_a_server_id_of_255_characters_and_unicode_is_fine(host_client):
    response = provision(host_client, item(server_id="é" * 255, hostname="Сервер 🦀"))
    assert response.status_code == 201
    assert response.json()["server_id"] == "é" * 255


@pytest.mark.parametrize("body", ["a string", 42, None, [], [1, 2], {"nested": {"x": 1}}])
def test_a_body_of_the_wrong_shape_is_400(host_client, body):
    response = provision(host_client, body)
    assert response.status_code == 400
    assert License.objects.count() == 0


def test_a_bulk_call_creates_every_item_in_request_order(host_client):
    items = [item(n) for n in range(1, 6)]
    response = provision(host_client, items)
    assert response.status_code == 201
    assert [row["server_id"] for row in response.json()] == [i["server_id"] for i in items]
    assert HostLicense.objects.count() == 5


def test_a_bulk_call_of_retries_only_is_200(host_client):
    items = [item(n) for n in range(1, 4)]
    first = provision(host_client, items).json()
    again = provision(host_client, items)
    assert again.status_code == 200
    assert [row["id"] for row in again.json()] == [row["id"] for row in first]


def test_a_bulk_call_mixing_retries_and_new_items_is_201(host_client):
    provision(host_client, item(1))
    response = provision(host_client, [item(1), item(2)])
    assert response.status_code == 201
    assert License.objects.count() == 2


def test_a_bulk_call_with_one_invalid_item_creates_nothing_and_names_it(host_client):
    items = [item(1), item(2, customer_email="broken"), item(3)]
    response = provision(host_client, items)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"1": {"customer_email": ["Enter a valid email address."]}}
    assert License.objects.count() == 0
    assert get_user_model().objects.filter(username__startswith="gamer").count() == 0


def test_a_bulk_call_with_a_server_id_twice_is_400_naming_both(host_client):
    response = provision(host_client, [item(1), item(2), item(1)])
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"0", "2"}
    assert License.objects.count() == 0


def test_a_bulk_call_with_a_conflict_is_409_per_item_and_writes_nothing(host_client):
    provision(host_client, item(2))
    response = provision(host_client, [item(1), item(2, hostname="changed.test"), item(3)])
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "server_id_conflict"
    assert set(error["fields"]) == {"1"}
    assert error["fields"]["1"]["code"] == "server_id_conflict"
    assert License.objects.count() == 1


def test_a_bulk_call_over_100_items_is_400(host_client):
    response = provision(host_client, [item(n) for n in range(101)])
    assert response.status_code == 400
    assert License.objects.count() == 0


def test_a_terminated_server_id_is_provisioned_anew(host_client):
    first = provision(host_client, item()).json()
    host_license = HostLicense.objects.get(license_id=first["id"])
    HostLicense.objects.filter(pk=host_license.pk).update(
        status=LicenseStatus.TERMINATED, terminated_at=host_license.provisioned_at
    )
    License.objects.filter(pk=first["id"]).update(
        status=LicenseStatus.TERMINATED, terminated_at=host_license.provisioned_at
    )
    second = provision(host_client, item(hostname="new.acme.test"))
    assert second.status_code == 201
    assert second.json()["id"] != first["id"]
    assert second.json()["license_key"] != first["license_key"]


def test_provision_queries_are_constant_single(host_client, django_assert_max_num_queries):
    # 14: the key (and its first last_used_at), the host lock, the live-server check, the
    # customer's lookup and upsert, four inserts (license, host license, status history, audit),
    # the event's insert and its endpoints' lookup, and the test's savepoint pair.
    with django_assert_max_num_queries(14):
        assert provision(host_client, item()).status_code == 201


def test_provision_queries_are_constant_for_a_bulk_of_100(host_client, django_assert_max_num_queries, is_postgres):
    # SQLite caps the parameters of one statement, so Django splits its bulk inserts in two.
    # The events of a bulk: one insert and one endpoints' lookup, however many licenses.
    budget = 14 if is_postgres else 17
    with django_assert_max_num_queries(budget):
        assert provision(host_client, [item(n) for n in range(100)]).status_code == 201
    with django_assert_max_num_queries(budget):
        assert provision(host_client, [item(n) for n in range(100)]).status_code == 200


# --- Unknown fields -------------------------------------------------------------------------------


def test_an_unknown_field_is_400_naming_it(host_client):
    response = provision(host_client, item(hostnme="typo.acme.test", plan="pro"))
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields == {
        "hostnme": ["Unknown field: this endpoint does not take it."],
        "plan": ["Unknown field: this endpoint does not take it."],
    }
    assert License.objects.count() == 0


def test_unknown_fields_are_named_beside_invalid_ones(host_client):
    response = provision(host_client, {"server_id": "", "hostname": "h.test", "customer_email": "a@b.test", "x": 1})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"server_id", "x"}


def test_a_bulk_call_names_unknown_fields_per_item_and_creates_nothing(host_client):
    response = provision(host_client, [item(1), item(2, status="active"), item(3), item(4, id="x", license_key="y")])
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"1", "3"}
    assert set(fields["1"]) == {"status"}
    assert set(fields["3"]) == {"id", "license_key"}
    assert License.objects.count() == 0


# --- Customer e-mail addresses --------------------------------------------------------------------


@pytest.mark.parametrize("address", EDGE_ADDRESSES)
def test_any_address_is_201_or_a_400_naming_it_never_a_500(host_client, address):
    response = provision(host_client, item(customer_email=address))
    assert response.status_code in (201, 400), response.content
    if address in ACCEPTED:
        assert response.status_code == 201
    if address in REFUSED:
        assert response.status_code == 400
    if response.status_code == 400:
        assert set(response.json()["error"]["fields"]) == {"customer_email"}
        assert License.objects.count() == 0
        return
    body = response.json()
    assert body["customer_email"] == address.strip()
    customer = License.objects.get(pk=body["id"]).customer
    assert len(customer.username) <= 150 and len(customer.email) <= 254
    # Found again: a retry is the same license, another server the same customer.
    assert provision(host_client, item(customer_email=address)).json()["id"] == body["id"]
    second = provision(host_client, item(2, customer_email=address)).json()
    assert License.objects.get(pk=second["id"]).customer == customer


def test_a_lower_case_form_too_long_for_a_username_is_kept_in_full_and_found_ignoring_case(host_client):
    User = get_user_model()
    address = "Gamer" + "İ" * 70 + "@Example.com"
    first = provision(host_client, item(1, customer_email=address)).json()
    customer = License.objects.get(pk=first["id"]).customer
    assert customer.email == address.lower()  # the whole address, lower-cased: it fits in 254
    assert customer.username.startswith("email-sha256:")
    other_case = "GAMER" + "İ" * 70 + "@EXAMPLE.COM"
    second = provision(host_client, item(2, customer_email=other_case))
    assert second.status_code == 201
    assert License.objects.get(pk=second.json()["id"]).customer == customer
    assert User.objects.filter(email__iexact=address.lower()).count() == 1


def test_an_address_whose_lower_case_form_is_too_long_for_the_email_column_is_kept_as_given(host_client):
    address = "İ" * 200 + "@example.com"
    body = provision(host_client, item(customer_email=address)).json()
    assert License.objects.get(pk=body["id"]).customer.email == address


def test_existing_customers_are_still_found_by_their_lower_cased_email(host_client):
    from tests.factories import UserFactory

    existing = UserFactory(email="old.customer@example.test")
    body = provision(host_client, item(customer_email="Old.Customer@Example.TEST")).json()
    assert License.objects.get(pk=body["id"]).customer == existing
