"""No admin changelist filters by a secret: a view-only user cannot recover one a character at a time.

`?digest__startswith=a`, then `ab`, then `abc`...: 16 guesses per character recover a key's
digest, and the same probe would recover license keys and companion tokens through any relation.
Every registered ModelAdmin, the project's and Django's own, refuses such a lookup as the admin
refuses any lookup it does not allow (400), never with a 500 and never by filtering.
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from corrosion.admin import SECRET_FIELDS, lookup_touches_secret
from tests.factories import HostAPIKeyFactory, HostLicenseFactory

pytestmark = pytest.mark.django_db

# Deep enough to reach every secret from every admin (host -> billing record -> line -> key is 3).
MAX_DEPTH = 3
PROBES = ["__startswith", "__istartswith", "__regex", "__gt", "__exact", ""]


def _secret_paths(model, depth=MAX_DEPTH, prefix=""):
    """Every lookup path from `model` that ends on a secret field, through any relation."""
    for field in model._meta.get_fields():
        path = f"{prefix}{field.name}"  # a reverse relation's name is its query name
        if f"{model._meta.label_lower}.{field.name}" in SECRET_FIELDS:
            yield path
        elif field.is_relation and field.related_model is not None and depth > 1:
            yield from _secret_paths(field.related_model, depth - 1, f"{path}__")


def _admin_probes():
    for model in admin.site._registry:
        for path in sorted(set(_secret_paths(model))):
            yield pytest.param(model, path, id=f"{model._meta.label_lower}-{path}")


@pytest.fixture
def key_and_license():
    key = HostAPIKeyFactory()
    return key, HostLicenseFactory(host=key.host)


def test_the_digest_of_a_key_cannot_be_probed_by_a_view_only_user(support_client, key_and_license):
    key, _ = key_and_license
    changelist = reverse("admin:hosts_hostapikey_changelist")
    assert support_client.get(changelist).status_code == 200
    right, wrong = key.digest[:2], ("0" if key.digest[0] != "0" else "1") + key.digest[1]
    answers = [support_client.get(changelist, {"digest__startswith": prefix}) for prefix in (right, wrong)]
    # Refused alike, whatever the guess: the answer tells nothing about the digest.
    assert [answer.status_code for answer in answers] == [400, 400]
    assert answers[0].content == answers[1].content
    assert key.key_id not in answers[0].content.decode()


@pytest.mark.parametrize(("model", "path"), list(_admin_probes()))
def test_no_admin_changelist_filters_by_a_secret(support_client, key_and_license, model, path):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = support_client.get(url, {f"{path}__startswith": "C"})
    assert response.status_code == 400, (url, path, response.status_code)
    model_admin = admin.site._registry[model]
    for probe in PROBES:
        assert not model_admin.lookup_allowed(f"{path}{probe}", "C", None), probe


def test_every_secret_is_reachable_from_some_admin():
    """The probe list above is not empty by accident: each secret has at least one admin path to it."""
    reached = set()
    for model in admin.site._registry:
        for path in _secret_paths(model):
            reached.add(path.rsplit("__", 1)[-1])
    assert {"digest", "license_key", "companion_token", "password"} <= reached


def test_every_field_named_like_a_secret_is_listed():
    """A new model with a token, secret or digest field is refused in the admin from its first day."""
    from django.apps import apps

    named = {
        f"{model._meta.label_lower}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if any(word in field.name for word in ("digest", "secret", "token", "license_key", "password"))
    }
    assert named <= SECRET_FIELDS, named - SECRET_FIELDS


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("admin:hosts_hostapikey_changelist", {"revoked_at__isnull": "True"}),
        ("admin:licensing_hostlicense_changelist", {"status__exact": "active"}),
        ("admin:hosts_host_changelist", {"active__exact": "1"}),
    ],
)
def test_ordinary_filters_still_work(support_client, key_and_license, url, params):
    assert support_client.get(reverse(url), params).status_code == 200


def test_a_license_is_found_by_its_whole_key_not_by_a_piece_of_it(support_client, key_and_license):
    _, host_license = key_and_license
    changelist = reverse("admin:licensing_hostlicense_changelist")
    license_key = host_license.license.license_key
    assert host_license.server_identifier in support_client.get(changelist, {"q": license_key.lower()}).content.decode()
    assert host_license.server_identifier not in support_client.get(changelist, {"q": license_key[:9]}).content.decode()


@pytest.mark.parametrize(
    ("lookup", "touches"),
    [
        ("digest__startswith", True),
        ("host__api_keys__digest", True),
        ("license__license_key__startswith", True),
        ("license__companion_token__regex", True),
        ("lines__license__companion_token", True),
        ("customer__password", True),
        ("license__hostname__startswith", False),
        ("key_id__startswith", False),
        ("no_such_field__startswith", False),
    ],
)
def test_which_lookups_touch_a_secret(lookup, touches):
    from billing.models import BillingRecord
    from hosts.models import HostAPIKey
    from licensing.models import HostLicense, License

    model = {
        "digest": HostAPIKey,
        "host": HostAPIKey,
        "license": HostLicense,
        "lines": BillingRecord,
        "customer": License,
        "key_id": HostAPIKey,
        "no_such_field": HostAPIKey,
    }[lookup.split("__")[0]]
    assert lookup_touches_secret(model, lookup) is touches
