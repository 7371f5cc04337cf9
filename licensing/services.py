"""Every change to licenses: one transaction each, with its audit record."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event_build
from licensing.keys import generate_companion_token, generate_license_key, generate_subdomain
from licensing.models import HostLicense, License, LicenseStatus

# A provisioning transaction that loses a race (another request created the same server's
# license first, or a random subdomain clashed) is rolled back whole and run again; the second
# run sees the winner's row and answers it as a retry.
PROVISION_ATTEMPTS = 3


@dataclass(frozen=True)
class ProvisionItem:
    server_id: str
    hostname: str
    customer_email: str


@dataclass(frozen=True)
class ProvisionResult:
    host_license: HostLicense
    created: bool


class ServerIdConflict(Exception):
    """Items whose server_id has a live license with another hostname or customer: {index: message}."""

    def __init__(self, conflicts):
        super().__init__(conflicts)
        self.conflicts = conflicts


def _same(a, b):
    return a.casefold() == b.casefold()


def customers_for_emails(emails):
    """{lowercased e-mail: user}, creating the users not there yet.

    A customer is the user whose username is their lowercased e-mail: the unique username makes
    "find or create, ignoring case" safe against concurrent requests for the same new customer.
    """
    User = get_user_model()
    usernames = {email.lower() for email in emails}
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    missing = usernames - users.keys()
    if missing:
        User.objects.bulk_create(
            [User(username=name, email=name, password=make_password(None)) for name in sorted(missing)],
            ignore_conflicts=True,
        )
        users.update({user.username: user for user in User.objects.filter(username__in=missing)})
    return users


def license_provision(*, host, items, actor):
    """Provision a license per item, all or nothing; items already provisioned come back as retries.

    Raises ServerIdConflict (nothing written) when an item's server_id is live with another
    hostname or customer e-mail.
    """
    for attempt in range(PROVISION_ATTEMPTS):
        try:
            return _provision_once(host=host, items=items, actor=actor)
        except IntegrityError:
            if attempt == PROVISION_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _provision_once(*, host, items, actor):
    live = {
        host_license.server_identifier: host_license
        for host_license in HostLicense.objects.filter(host=host, server_identifier__in=[i.server_id for i in items])
        .exclude(status=LicenseStatus.TERMINATED)
        .select_related("license")
    }
    conflicts = {}
    for index, item in enumerate(items):
        existing = live.get(item.server_id)
        if existing and not (
            _same(existing.license.hostname, item.hostname) and _same(existing.customer_email, item.customer_email)
        ):
            conflicts[index] = (
                f"server_id {item.server_id!r} already has a live license with another hostname or customer_email."
            )
    if conflicts:
        raise ServerIdConflict(conflicts)

    new_items = [item for item in items if item.server_id not in live]
    created = _create_licenses(host=host, items=new_items, actor=actor) if new_items else {}
    return [
        ProvisionResult(host_license=live[item.server_id], created=False)
        if item.server_id in live
        else ProvisionResult(host_license=created[item.server_id], created=True)
        for item in items
    ]


def _create_licenses(*, host, items, actor):
    now = timezone.now()
    customers = customers_for_emails(item.customer_email for item in items)
    licenses, host_licenses, events = [], {}, []
    for item in items:
        license = License(
            license_key=generate_license_key(),
            companion_token=generate_companion_token(),
            customer=customers[item.customer_email.lower()],
            hostname=item.hostname,
            subdomain=generate_subdomain(item.hostname),
            status=LicenseStatus.ACTIVE,
            provisioned_at=now,
            status_changed_at=now,
        )
        licenses.append(license)
        host_licenses[item.server_id] = HostLicense(
            host=host,
            license=license,
            server_identifier=item.server_id,
            customer_email=item.customer_email,
            status=LicenseStatus.ACTIVE,
            provisioned_at=now,
        )
        events.append(
            audit_event_build(
                actor=actor,
                action="license.provisioned",
                target=license,
                data={"host_id": str(host.pk), "server_id": item.server_id, "customer_email": item.customer_email},
                occurred_at=now,
            )
        )
    License.objects.bulk_create(licenses)
    # Insert in server_id order, so two overlapping bulk calls wait on each other instead of deadlocking.
    HostLicense.objects.bulk_create(sorted(host_licenses.values(), key=lambda hl: hl.server_identifier))
    AuditEvent.objects.bulk_create(events)
    return host_licenses
