"""Each invariant of licenses and host licenses is a database constraint: write a violating row."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from licensing.models import HostLicense, LicenseStatus
from tests.factories import HostFactory, HostLicenseFactory, LicenseFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_rejects_a_duplicate_license_key():
    existing = LicenseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(license_key=existing.license_key)


def test_it_rejects_a_duplicate_subdomain():
    existing = LicenseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(subdomain=existing.subdomain)


def test_it_rejects_a_duplicate_companion_token():
    existing = LicenseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(companion_token=existing.companion_token)


def test_it_rejects_a_license_held_by_two_hosts():
    first = HostLicenseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        HostLicense.objects.create(
            host=HostFactory(),
            license=first.license,
            server_identifier="elsewhere",
            customer_email=first.customer_email,
            provisioned_at=timezone.now(),
        )


@pytest.mark.parametrize("status", [LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED])
def test_it_rejects_a_second_live_license_for_one_server(status):
    first = HostLicenseFactory(server_identifier="rust-nyc-01", status=status)
    with pytest.raises(IntegrityError), transaction.atomic():
        HostLicenseFactory(host=first.host, server_identifier="rust-nyc-01")


def test_it_allows_a_new_license_once_the_old_one_is_terminated():
    first = HostLicenseFactory(server_identifier="rust-nyc-01", status=LicenseStatus.TERMINATED)
    HostLicenseFactory(host=first.host, server_identifier="rust-nyc-01")
    HostLicenseFactory(host=first.host, server_identifier="rust-nyc-01", status=LicenseStatus.TERMINATED)
    assert HostLicense.objects.filter(host=first.host, server_identifier="rust-nyc-01").count() == 3


def test_it_allows_the_same_server_id_at_two_hosts():
    first = HostLicenseFactory(server_identifier="rust-nyc-01")
    HostLicenseFactory(server_identifier="rust-nyc-01")
    assert HostLicense.objects.exclude(host=first.host).count() == 1


def test_it_rejects_an_unknown_status():
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(status="paused")
    with pytest.raises(IntegrityError), transaction.atomic():
        HostLicenseFactory(status="paused")


def test_it_rejects_a_terminated_license_without_its_time_and_a_live_one_with_it():
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(status=LicenseStatus.TERMINATED, terminated_at=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        HostLicenseFactory(status=LicenseStatus.ACTIVE, terminated_at=timezone.now())


def test_it_rejects_an_empty_server_identifier():
    with pytest.raises(IntegrityError), transaction.atomic():
        HostLicenseFactory(server_identifier="")


def test_it_refuses_to_delete_a_license_or_a_customer_with_history():
    host_license = HostLicenseFactory()
    with pytest.raises(ProtectedError):
        host_license.license.delete()
    with pytest.raises(ProtectedError):
        host_license.license.customer.delete()


def test_a_customer_may_hold_licenses_at_several_hosts():
    customer = UserFactory()
    HostLicenseFactory(license__customer=customer)
    HostLicenseFactory(license__customer=customer)
    assert customer.licenses.count() == 2


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("table", "row"), [("licenses", lambda hl: hl.license_id), ("auth_user", lambda hl: hl.license.customer_id)]
)
def test_the_database_itself_refuses_to_delete_a_license_or_customer_with_history(table, row):
    from django.db import connection

    host_license = HostLicenseFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's foreign keys are checked at commit
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row(host_license)])


@pytest.mark.postgres_only
def test_host_license_pages_keep_room_for_heartbeats_to_update_in_place():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'host_licenses'")
        assert "fillfactor=80" in cursor.fetchone()[0]
