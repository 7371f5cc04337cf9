"""A host's billing address and tax id, for invoices: update_host, the admin, and what is refused."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from hosts.models import Host

pytestmark = pytest.mark.django_db


def test_update_host_sets_the_billing_address_and_tax_id(host):
    out = StringIO()
    call_command(
        "update_host", host.contact_email, "--billing-address", "1 Harbour Street| Bristol BS1 4RN ", "--tax-id",
        " GB123456789 ", stdout=out,
    )  # fmt: skip
    host.refresh_from_db()
    assert (host.billing_address, host.tax_id) == ("1 Harbour Street\nBristol BS1 4RN", "GB123456789")
    event = AuditEvent.objects.filter(action="host.updated").latest("occurred_at")
    assert event.data["tax_id"] == ["", "GB123456789"]
    call_command("update_host", host.contact_email, "--tax-id", "", stdout=out)
    host.refresh_from_db()
    assert host.tax_id == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--tax-id", "x" * 65, "at most 64"), ("--billing-address", "a\tb", "control characters")],
)
def test_update_host_refuses_bad_invoice_details(host, option, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("update_host", host.contact_email, option, value, stdout=StringIO())


def test_staff_edit_them_in_the_admin(staff_client, host):
    response = staff_client.post(
        f"/admin/hosts/host/{host.pk}/change/",
        {
            "company_name": host.company_name,
            "contact_email": host.contact_email,
            "wholesale_rate_usd": "6.00",
            "billing_address": "10 Dock Road\r\nCardiff",
            "tax_id": "GB999",
            "rates-TOTAL_FORMS": "0",
            "rates-INITIAL_FORMS": "0",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    host = Host.objects.get(pk=host.pk)
    assert (host.billing_address, host.tax_id) == ("10 Dock Road\nCardiff", "GB999")
