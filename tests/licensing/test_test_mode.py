"""Test licenses in the database, the heartbeat and the admin (SPEC: Test mode)."""

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from licensing.keys import generate_license_key
from licensing.models import HostLicense, LicenseStatus
from tests.factories import HostFactory, HostLicenseFactory, LicenseFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("livemode, test_key", [(True, True), (False, False)], ids=["live CRN-TEST-", "test CRN-"])
def test_the_database_refuses_a_key_that_does_not_say_its_mode(livemode, test_key):
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(livemode=livemode, license_key=generate_license_key(livemode=not test_key))


def test_a_key_that_says_its_mode_is_stored():
    assert LicenseFactory(livemode=False).license_key.startswith("CRN-TEST-")
    assert not LicenseFactory(livemode=True).license_key.startswith("CRN-TEST-")


def test_a_server_id_is_unique_per_host_and_per_mode():
    host = HostFactory()
    HostLicenseFactory(host=host, server_identifier="rust-1", livemode=True)
    HostLicenseFactory(host=host, server_identifier="rust-1", livemode=False)  # the other world: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        HostLicenseFactory(host=host, server_identifier="rust-1", livemode=False)
    # Terminated ones do not count, in either mode.
    HostLicenseFactory(host=host, server_identifier="rust-1", livemode=False, status=LicenseStatus.TERMINATED)
    assert HostLicense.objects.filter(host=host, server_identifier="rust-1").count() == 3


@pytest.mark.parametrize("livemode", [True, False], ids=["live", "test"])
@pytest.mark.parametrize("status, valid", [(LicenseStatus.ACTIVE, True), (LicenseStatus.SUSPENDED, False)])
def test_a_heartbeat_is_recorded_and_answered_alike_in_both_modes(livemode, status, valid):
    host_license = HostLicenseFactory(livemode=livemode, status=status)
    response = APIClient().post(
        "/api/plugin/heartbeat", {"license_key": host_license.license.license_key, "version": "2.4.1"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"status": status, "valid": valid, "livemode": livemode}
    host_license.refresh_from_db()
    assert host_license.last_seen_at is not None and host_license.plugin_version == "2.4.1"


def test_the_license_admin_marks_test_licenses_and_filters_by_mode(staff_client):
    live = HostLicenseFactory(server_identifier="live-server", livemode=True)
    test = HostLicenseFactory(server_identifier="test-server", livemode=False)
    page = staff_client.get("/admin/licensing/hostlicense/").content.decode()
    assert page.count('class="mode-test"') == 1 and "live-server" in page and "test-server" in page
    only_test = staff_client.get("/admin/licensing/hostlicense/", {"mode": "test"}).content.decode()
    assert "test-server" in only_test and "live-server" not in only_test
    only_live = staff_client.get("/admin/licensing/hostlicense/", {"mode": "live"}).content.decode()
    assert "live-server" in only_live and "test-server" not in only_live
    detail = staff_client.get(f"/admin/licensing/hostlicense/{test.pk}/change/").content.decode()
    assert 'class="mode-test"' in detail
    assert (
        'class="mode-test"' not in staff_client.get(f"/admin/licensing/hostlicense/{live.pk}/change/").content.decode()
    )


def test_the_host_list_counts_live_licenses_only(staff_client):
    host = HostFactory(company_name="Counted Hosting")
    HostLicenseFactory(host=host, livemode=True)
    for _ in range(3):
        HostLicenseFactory(host=host, livemode=False)
    page = staff_client.get("/admin/hosts/host/", {"has_live": "yes"}).content.decode()
    assert '<td class="field-live_licenses">1</td>' in page
