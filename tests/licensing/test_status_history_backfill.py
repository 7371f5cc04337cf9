"""Migrations 0006-0009 back-fill every existing license's status history, on either database."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BEFORE = [("licensing", "0006_filter_indexes")]
AUDIT = ("audit", "0002_append_only_trigger")
AFTER = [("licensing", "0010_validate_license_status_changes_foreign_key")]
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
UNKNOWN = ("system", "back-fill: actor unknown")


def hours(n):
    return T0 + timedelta(hours=n)


@pytest.fixture
def migrator():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


class Old:
    """Rows written by the code before the history existed, with the models of that time."""

    def __init__(self, apps):
        self.apps = apps
        Host = apps.get_model("hosts", "Host")
        self.host = Host.objects.create(company_name="Old Hosting", contact_email="ops@old.test")
        self.customer = apps.get_model("auth", "User").objects.create(username="c@old.test", email="c@old.test")
        self.n = 0

    def license(self, *, status="active", suspended_at=None, resumed_at=None, terminated_at=None, changed_at=None):
        self.n += 1
        License = self.apps.get_model("licensing", "License")
        license = License.objects.create(
            license_key=f"CRN-OLD-{self.n}",
            companion_token=f"companion-{self.n}",
            customer=self.customer,
            hostname=f"play{self.n}.old.test",
            subdomain=f"old-{self.n}",
            status=status,
            provisioned_at=T0,
            suspended_at=suspended_at,
            resumed_at=resumed_at,
            terminated_at=terminated_at,
            status_changed_at=changed_at or max(t for t in (T0, suspended_at, resumed_at, terminated_at) if t),
        )
        self.apps.get_model("licensing", "HostLicense").objects.create(
            host=self.host,
            license=license,
            server_identifier=f"rust-{self.n}",
            customer_email="c@old.test",
            status=status,
            provisioned_at=T0,
            terminated_at=terminated_at,
        )
        return license

    def audit(self, license, action, at, actor_type="host_key", actor="abcd1234"):
        self.apps.get_model("audit", "AuditEvent").objects.create(
            occurred_at=at,
            actor_type=actor_type,
            actor=actor,
            action=action,
            target_type="licensing.license",
            target_id=str(license.pk),
            data={},
        )


def history(license):
    from licensing.models import LicenseStatusChange

    return list(
        LicenseStatusChange.objects.filter(license_id=license.pk)
        .order_by("sequence")
        .values_list("sequence", "status", "changed_at", "actor_type", "actor")
    )


def test_the_backfill_rebuilds_each_history_from_the_audit_trail_and_the_licenses(migrator):
    old = Old(migrator.loader.project_state([*BEFORE, AUDIT]).apps)

    # Every change in the audit trail, with its actor: it is preferred.
    audited = old.license(status="suspended", suspended_at=hours(5), resumed_at=hours(3))
    old.audit(audited, "license.provisioned", T0)
    old.audit(audited, "license.suspended", hours(1), "staff", "alice")
    old.audit(audited, "license.resumed", hours(3), "host_key", "abcd1234")
    old.audit(audited, "license.suspended", hours(5), "command", "ops")

    # Nothing in the trail (written outside the services): the license's own columns.
    bare = old.license(status="suspended", suspended_at=hours(2))
    # The trail has its termination only; its suspension comes from the column.
    mixed = old.license(status="terminated", suspended_at=hours(1), terminated_at=hours(4))
    old.audit(mixed, "license.provisioned", T0)
    old.audit(mixed, "license.terminated", hours(4), "host_key", "abcd1234")
    # Suspended and resumed in the same instant: suspension first.
    instant = old.license(status="active", suspended_at=hours(6), resumed_at=hours(6))
    old.audit(instant, "license.suspended", hours(6), "staff", "alice")
    old.audit(instant, "license.resumed", hours(6), "staff", "alice")
    # Suspended by hand with no time at all: one row brings the history to its status.
    stray = old.license(status="suspended", changed_at=hours(7))
    untouched = old.license()

    migrator.loader.build_graph()
    migrator.migrate(AFTER)

    assert history(audited) == [
        (1, "active", T0, "host_key", "abcd1234"),
        (2, "suspended", hours(1), "staff", "alice"),
        (3, "active", hours(3), "host_key", "abcd1234"),
        (4, "suspended", hours(5), "command", "ops"),
    ]
    assert history(bare) == [(1, "active", T0, *UNKNOWN), (2, "suspended", hours(2), *UNKNOWN)]
    assert history(mixed) == [
        (1, "active", T0, "host_key", "abcd1234"),
        (2, "suspended", hours(1), *UNKNOWN),
        (3, "terminated", hours(4), "host_key", "abcd1234"),
    ]
    assert [row[1] for row in history(instant)] == ["active", "suspended", "active"]
    assert history(stray) == [(1, "active", T0, *UNKNOWN), (2, "suspended", hours(7), *UNKNOWN)]
    assert history(untouched) == [(1, "active", T0, *UNKNOWN)]


def test_after_the_backfill_every_history_ends_on_its_licenses_status_and_new_changes_follow_it(migrator):
    old = Old(migrator.loader.project_state([*BEFORE, AUDIT]).apps)
    suspended = old.license(status="suspended", suspended_at=hours(2))
    old.audit(suspended, "license.suspended", hours(2), "staff", "alice")
    migrator.loader.build_graph()
    # The services below use today's models, so the database goes on to the latest migrations.
    migrator.migrate(migrator.loader.graph.leaf_nodes())

    from audit.services import Actor
    from licensing.models import HostLicense, License, LicenseStatusChange
    from licensing.services import license_resume

    for license in License.objects.all():
        last = LicenseStatusChange.objects.filter(license=license).order_by("-sequence").first()
        assert last.status == license.status
    # The back-filled staff suspension binds the host; staff resume it, as sequence 3.
    host_license = HostLicense.objects.get(license_id=suspended.pk)
    from corrosion.errors import DomainError

    with pytest.raises(DomainError, match="staff"):
        license_resume(host_license=host_license, actor=Actor.host_key("abcd1234"))
    license_resume(host_license=host_license, actor=Actor.command("ops"))
    assert [row[:2] for row in history(suspended)] == [(1, "active"), (2, "suspended"), (3, "active")]


@pytest.mark.postgres_only
def test_the_foreign_key_is_in_place_and_validated(migrator):
    migrator.loader.build_graph()
    migrator.migrate(AFTER)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT convalidated, confrelid::regclass::text FROM pg_constraint"
            " WHERE conrelid = 'license_status_changes'::regclass AND contype = 'f'"
        )
        assert cursor.fetchall() == [(True, "licenses")]
