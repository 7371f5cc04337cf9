"""Each invariant of hosts, rates and keys is a database constraint: write a violating row."""

from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from hosts.models import Host, HostRate
from tests.factories import HostAPIKeyFactory, HostFactory, HostLicenseFactory

pytestmark = pytest.mark.django_db


def test_it_rejects_a_second_host_with_the_same_email_in_other_case():
    Host.objects.create(company_name="A", contact_email="Ops@Example.test")
    with pytest.raises(IntegrityError), transaction.atomic():
        Host.objects.create(company_name="B", contact_email="ops@example.TEST")


def test_it_rejects_a_negative_rate():
    with pytest.raises(IntegrityError), transaction.atomic():
        Host.objects.create(company_name="A", contact_email="a@example.test", wholesale_rate_usd=Decimal("-0.01"))


def test_it_defaults_the_rate_to_six_dollars():
    host = Host.objects.create(company_name="A", contact_email="a@example.test")
    host.refresh_from_db()
    assert host.wholesale_rate_usd == Decimal("6.00")


def test_it_rejects_two_rate_rows_at_the_same_moment():
    host = HostFactory()
    moment = timezone.now()
    HostRate.objects.create(host=host, wholesale_rate_usd=Decimal("5.00"), effective_from=moment)
    with pytest.raises(IntegrityError), transaction.atomic():
        HostRate.objects.create(host=host, wholesale_rate_usd=Decimal("4.00"), effective_from=moment)


def test_it_rejects_a_negative_rate_in_the_history():
    host = HostFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        HostRate.objects.create(host=host, wholesale_rate_usd=Decimal("-1"), effective_from=timezone.now())


def test_it_rejects_a_duplicate_key_id():
    key = HostAPIKeyFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        HostAPIKeyFactory(host=key.host, key_id=key.key_id)


@pytest.mark.parametrize("key_id", ["ABCDEFGH", "abc", "abcdefg!", "abcdefghi"])
def test_it_rejects_a_malformed_key_id(key_id):
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        HostAPIKeyFactory(key_id=key_id)


def test_it_rejects_a_digest_that_is_not_sha256_hex():
    with pytest.raises(IntegrityError), transaction.atomic():
        HostAPIKeyFactory(digest="crn_abcdefgh_plaintextsecret")


def test_it_refuses_to_delete_a_host_with_keys_rates_or_licenses():
    host_license = HostLicenseFactory()
    HostAPIKeyFactory(host=host_license.host)
    with pytest.raises(ProtectedError):
        host_license.host.delete()
    assert Host.objects.filter(pk=host_license.host.pk).exists()


@pytest.mark.postgres_only
def test_the_database_itself_refuses_to_delete_a_referenced_host():
    key = HostAPIKeyFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        # Django's foreign keys are checked at commit; ask for the check now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("DELETE FROM hosts WHERE id = %s", [key.host_id])
