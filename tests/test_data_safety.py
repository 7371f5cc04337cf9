"""Nothing billable is lost by a delete, and closed bills never change: admin, ORM and database."""

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from audit.services import Actor
from billing.models import BillingLine, BillingMonth, BillingRecord, BillingWaivedLine
from billing.services import month_close
from hosts.models import Host, HostRate
from licensing.models import HostLicense, License, LicenseStatus, LicenseStatusChange
from tests.billing.helpers import at
from tests.factories import HostAPIKeyFactory, HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MAY = date(2026, 5, 1)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(at(2026, 6, 10, 12), tick=False)


@pytest.fixture
def closed():
    host_license = HostLicenseFactory(provisioned_at=at(2026, 5, 2))
    HostLicenseFactory(  # a mistake: a waived line
        host=host_license.host,
        status=LicenseStatus.TERMINATED,
        provisioned_at=at(2026, 5, 3),
        terminated_at=at(2026, 5, 3, 1),
    )
    month_close(month=MAY, actor=Actor.command("tests"))
    assert BillingWaivedLine.objects.count() == 1
    return host_license


@pytest.mark.parametrize(
    "delete",
    [
        lambda hl: hl.host.delete(),
        lambda hl: Host.objects.filter(pk=hl.host_id).delete(),
        lambda hl: hl.license.delete(),
        lambda hl: License.objects.filter(pk=hl.license_id).delete(),
        lambda hl: hl.delete(),
        lambda hl: HostLicense.objects.filter(pk=hl.pk).delete(),
        lambda hl: hl.license.customer.delete(),
        lambda hl: HostRate.objects.filter(host=hl.host).delete(),
    ],
)
def test_the_orm_refuses_to_delete_hosts_customers_and_licenses(closed, delete):
    with pytest.raises(ProtectedError):
        delete(closed)
    assert HostLicense.objects.filter(pk=closed.pk).exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda: BillingRecord.objects.update(total_amount_usd=0),
        lambda: BillingRecord.objects.all().delete(),
        lambda: BillingLine.objects.update(hostname="x"),
        lambda: BillingLine.objects.all().delete(),
        lambda: BillingMonth.objects.all().delete(),
        lambda: BillingRecord.objects.get().save(),
        lambda: BillingRecord.objects.get().delete(),
        lambda: HostRate.objects.update(wholesale_rate_usd=1),
        lambda: BillingWaivedLine.objects.update(hostname="x"),
        lambda: BillingWaivedLine.objects.all().delete(),
        lambda: LicenseStatusChange.objects.update(status="suspended"),
        lambda: LicenseStatusChange.objects.all().delete(),
    ],
)
def test_the_orm_refuses_to_change_closed_bills_and_rate_history(closed, change):
    with pytest.raises(ProtectedError):
        change()
    assert BillingRecord.objects.get().total_amount_usd == 6


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM host_licenses",
        "DELETE FROM licenses",
        "DELETE FROM hosts",
        "DELETE FROM host_api_keys",
        "UPDATE host_rates SET wholesale_rate_usd = 0",
        "UPDATE host_billing_records SET total_amount_usd = 0, active_license_count = 0",
        "DELETE FROM host_billing_lines",
        "UPDATE host_billing_lines SET hostname = 'x'",
        "DELETE FROM billing_months",
        "UPDATE billing_months SET closed_by = 'x'",
        "DELETE FROM host_billing_waived_lines",
        "UPDATE host_billing_waived_lines SET hostname = 'x'",
        "DELETE FROM license_status_changes",
        "UPDATE license_status_changes SET actor = 'x'",
    ],
)
def test_the_database_refuses_the_same_sql_whoever_sends_it(closed, sql):
    HostAPIKeyFactory(host=closed.host)
    with pytest.raises(IntegrityError, match="refused"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def test_the_admin_offers_no_delete_of_a_customer_with_licenses(closed, staff_client):
    customer = closed.license.customer
    response = staff_client.post(f"/admin/auth/user/{customer.pk}/delete/", {"post": "yes"})
    # Django's own page, naming the license that protects the customer: the confirmation posted
    # above deletes nothing while a license points to them.
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cannot delete user" in html
    assert "would require deleting the following protected related objects" in html
    assert closed.license.license_key in html
    assert type(customer).objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_billing_api_only_reads(closed, method, host_client):
    response = getattr(host_client, method)("/api/host/billing/2026-05", {}, format="json")
    assert response.status_code == 405
    assert BillingRecord.objects.get().total_amount_usd == 6
