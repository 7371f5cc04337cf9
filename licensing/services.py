"""Every change to licenses: one transaction each, with its audit record."""

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from psycopg.pq import TransactionStatus

from audit.services import Actor, audit_event_build, audit_record, audit_record_many
from corrosion.errors import DomainError, ErrorCode
from corrosion.limits import parse_rate
from hosts.models import Host
from licensing import status_backfill
from licensing.keys import generate_companion_token, generate_license_key, generate_subdomain
from licensing.models import HostLicense, License, LicenseStatus, LicenseStatusChange
from licensing.payloads import license_events_record

# Provisioning calls of one host queue on the host's row lock, so overlapping calls never race.
# The partial unique index stays the backstop: a transaction that still hits it (a random
# subdomain clash, a writer that skipped the lock) is rolled back whole and run again.
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


def _same(a, b):
    return a.casefold() == b.casefold()


# The username of a customer whose lowercased e-mail does not fit in one (150 characters): a
# digest of that e-mail. It has no "@", so it can never be another customer's e-mail.
_LONG_EMAIL_USERNAME_PREFIX = "email-sha256:"


def customer_username(email):
    """The username of the customer with this e-mail: the lowercased e-mail, or its digest when too long.

    The username is unique, so "find or create, ignoring case" stays safe against concurrent
    requests for the same new customer, however long the e-mail.
    """
    lowered = email.lower()
    User = get_user_model()
    if len(lowered) <= User._meta.get_field("username").max_length:
        return lowered
    return _LONG_EMAIL_USERNAME_PREFIX + hashlib.sha256(lowered.encode()).hexdigest()


def _customer_user(User, username, email):
    lowered = email.lower()
    # The e-mail column holds 254: the lowercased form when it fits, else the address as given.
    kept = lowered if len(lowered) <= User._meta.get_field("email").max_length else email
    return User(username=username, email=kept, password=make_password(None))


def customers_for_emails(emails):
    """{lowercased e-mail: user}, creating the users not there yet (see customer_username)."""
    User = get_user_model()
    by_username = {customer_username(email): email for email in emails}
    users = {user.username: user for user in User.objects.filter(username__in=by_username)}
    missing = by_username.keys() - users.keys()
    if missing:
        # One upsert that returns every row, also one a concurrent request created meanwhile (its
        # no-op update waits for that request's commit): a new customer costs one query, not two.
        created = User.objects.bulk_create(
            [_customer_user(User, name, by_username[name]) for name in sorted(missing)],
            update_conflicts=True,
            unique_fields=["username"],
            update_fields=["username"],
        )
        users.update({user.username: user for user in created})
    return {email.lower(): users[username] for username, email in by_username.items()}


def license_provision(*, host, items, actor, livemode, bulk=False):
    """Provision a license per item, all or nothing; items already provisioned come back as retries.

    `livemode` False provisions test licenses (keys CRN-TEST-..., never billed); retries and
    conflicts are looked for among the licenses of the same mode only.

    Raises DomainError `server_id_conflict` (nothing written) when an item's server_id is live with
    another hostname or customer e-mail: for a `bulk` call with a code and message per item index.
    """
    for _ in range(PROVISION_ATTEMPTS):
        try:
            return _provision_once(host=host, items=items, actor=actor, livemode=livemode, bulk=bulk)
        except IntegrityError:
            continue
    # Every attempt lost a race: nothing was written, and a retry shortly will find the winner's rows.
    raise DomainError(ErrorCode.SERVICE_UNAVAILABLE, "Busy provisioning these servers; retry shortly.", retry_after=1)


def _server_id_conflict(conflicts, *, bulk):
    if not bulk:
        return DomainError(ErrorCode.SERVER_ID_CONFLICT, conflicts[0])
    return DomainError(
        ErrorCode.SERVER_ID_CONFLICT,
        "A server_id already has a live license with another hostname or customer_email.",
        fields={str(index): {"code": ErrorCode.SERVER_ID_CONFLICT, "message": m} for index, m in conflicts.items()},
    )


@transaction.atomic
def _provision_once(*, host, items, actor, livemode, bulk):
    Host.objects.select_for_update().filter(pk=host.pk).values_list("pk", flat=True).get()
    live = {
        host_license.server_identifier: host_license
        for host_license in HostLicense.objects.filter(
            host=host, livemode=livemode, server_identifier__in=[i.server_id for i in items]
        ).exclude(status=LicenseStatus.TERMINATED)
    }
    if live:
        # Retries only: most calls provision new servers and skip this join's cost altogether.
        licenses = License.objects.in_bulk([host_license.license_id for host_license in live.values()])
        for host_license in live.values():
            host_license.license = licenses[host_license.license_id]
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
        raise _server_id_conflict(conflicts, bulk=bulk)

    new_items = [item for item in items if item.server_id not in live]
    created = _create_licenses(host=host, items=new_items, actor=actor, livemode=livemode) if new_items else {}
    return [
        ProvisionResult(host_license=live[item.server_id], created=False)
        if item.server_id in live
        else ProvisionResult(host_license=created[item.server_id], created=True)
        for item in items
    ]


def _create_licenses(*, host, items, actor, livemode):
    now = timezone.now()
    customers = customers_for_emails(item.customer_email for item in items)
    licenses, host_licenses, events, history = [], {}, [], []
    for item in items:
        license = License(
            license_key=generate_license_key(livemode=livemode),
            companion_token=generate_companion_token(),
            customer=customers[item.customer_email.lower()],
            hostname=item.hostname,
            subdomain=generate_subdomain(item.hostname),
            status=LicenseStatus.ACTIVE,
            livemode=livemode,
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
            livemode=livemode,
            provisioned_at=now,
        )
        history.append(_status_change(license=license, sequence=1, status=LicenseStatus.ACTIVE, at=now, actor=actor))
        events.append(
            audit_event_build(
                actor=actor,
                action="license.provisioned",
                target=license,
                data={
                    "host_id": str(host.pk),
                    "server_id": item.server_id,
                    "customer_email": item.customer_email,
                    "livemode": livemode,
                },
                occurred_at=now,
            )
        )
    License.objects.bulk_create(licenses)
    # Insert in server_id order, so two overlapping bulk calls wait on each other instead of deadlocking.
    HostLicense.objects.bulk_create(sorted(host_licenses.values(), key=lambda hl: hl.server_identifier))
    LicenseStatusChange.objects.bulk_create(history)
    audit_record_many(events)
    license_events_record(list(host_licenses.values()), "license.provisioned")
    return host_licenses


def _status_change(*, license, sequence, status, at, actor):
    return LicenseStatusChange(
        license=license, sequence=sequence, status=status, changed_at=at, actor_type=actor.type, actor=actor.name
    )


# For each change: the statuses it applies to, the status it leads to, and the time field it stamps.
_TRANSITIONS = {
    "suspend": ({LicenseStatus.ACTIVE}, LicenseStatus.SUSPENDED, "suspended_at"),
    "resume": ({LicenseStatus.SUSPENDED}, LicenseStatus.ACTIVE, "resumed_at"),
    "terminate": ({LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED}, LicenseStatus.TERMINATED, "terminated_at"),
}


_ACTIONS = {"suspend": "license.suspended", "resume": "license.resumed", "terminate": "license.terminated"}


def _locked(host_license):
    """The host license and its license, re-read under a row lock so concurrent changes queue up."""
    return (
        HostLicense.objects.select_for_update(of=("self", "license")).select_related("license").get(pk=host_license.pk)
    )


@transaction.atomic
def _license_transition(*, host_license, change, actor):
    host_license = _locked(host_license)
    license = host_license.license
    sources, target, time_field = _TRANSITIONS[change]
    if license.status == target:
        return host_license  # already in effect: a repeat changes nothing and records nothing
    if license.status not in sources:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Cannot {change} a license that is {license.status}.")
    last = license.status_changes.order_by("-sequence").first()
    if change == "resume" and not _may_resume(last, actor):
        raise DomainError(
            ErrorCode.SUSPENDED_BY_STAFF, "Corrosion staff suspended this license: only staff can resume it."
        )
    now = timezone.now()
    previous = license.status
    license.status = target
    license.status_changed_at = now
    setattr(license, time_field, now)
    license.save(update_fields=["status", "status_changed_at", time_field, "updated_at"])
    host_license.status = target
    host_fields = ["status"]
    if target == LicenseStatus.TERMINATED:
        host_license.terminated_at = now
        host_fields.append("terminated_at")
    host_license.save(update_fields=host_fields)
    if last is None:
        # Provisioned by the previous release while this one rolled out (after the history's
        # back-fill): the history starts at provisioning, as backfill_status_history would write it.
        last = _status_change(
            license=license,
            sequence=1,
            status=LicenseStatus.ACTIVE,
            at=license.provisioned_at,
            actor=Actor.system(status_backfill.UNKNOWN),
        )
        last.save(force_insert=True)
    _status_change(license=license, sequence=last.sequence + 1, status=target, at=now, actor=actor).save(
        force_insert=True
    )
    audit_record(
        actor=actor,
        action=_ACTIONS[change],
        target=license,
        data={"server_id": host_license.server_identifier, "from": previous, "to": target},
        occurred_at=now,
    )
    license_events_record([host_license], _ACTIONS[change])
    return host_license


def _may_resume(suspension, actor):
    """Staff may resume any suspension; the host (its key, its people) only one it made itself."""
    staff_suspended = suspension is not None and suspension.status == LicenseStatus.SUSPENDED and suspension.by_staff
    return not staff_suspended or actor.type in LicenseStatusChange.STAFF_ACTOR_TYPES


def license_suspend(*, host_license, actor):
    return _license_transition(host_license=host_license, change="suspend", actor=actor)


def license_resume(*, host_license, actor):
    """Raises DomainError `suspended_by_staff` when staff suspended the license and `actor` is not staff."""
    return _license_transition(host_license=host_license, change="resume", actor=actor)


def license_terminate(*, host_license, actor):
    """Final: the server_id is free for a new license, and billing stops after this month."""
    return _license_transition(host_license=host_license, change="terminate", actor=actor)


@transaction.atomic
def license_update(*, host_license, actor, hostname=None, customer_email=None):
    """Change the hostname and/or move the license to another customer; subdomain and panel URL stay."""
    host_license = _locked(host_license)
    license = host_license.license
    if license.status == LicenseStatus.TERMINATED:
        raise DomainError(ErrorCode.LICENSE_TERMINATED, "A terminated license cannot be edited.")
    changes = {}
    if hostname is not None and hostname != license.hostname:
        changes["hostname"] = [license.hostname, hostname]
        license.hostname = hostname
    if customer_email is not None and customer_email != host_license.customer_email:
        changes["customer_email"] = [host_license.customer_email, customer_email]
        license.customer = customers_for_emails([customer_email])[customer_email.lower()]
        host_license.customer_email = customer_email
    if not changes:
        return host_license
    license.save(update_fields=["hostname", "customer", "updated_at"])
    host_license.save(update_fields=["customer_email"])
    audit_record(actor=actor, action="license.updated", target=license, data=changes)
    license_events_record([host_license], "license.updated")
    return host_license


@dataclass(frozen=True)
class HeartbeatResult:
    known: bool  # a license has this key
    status: str | None = None  # the license's status, when the heartbeat was recorded
    retry_after: int | None = None  # seconds, when it came too soon after the last accepted one
    livemode: bool | None = None  # live (billed) or test, when the heartbeat was recorded


# One statement records an accepted heartbeat and tells the license's status. The per-license
# limit lives in the row: a heartbeat sooner than the limit allows after the last accepted one
# matches no row and is refused by the same statement, with no cache round trip on the busiest path.
_RECORD_HEARTBEAT = """
UPDATE host_licenses
   SET last_seen_at = %s,
       plugin_version = COALESCE(%s, plugin_version),
       player_count = COALESCE(%s, player_count)
 WHERE license_id = (SELECT id FROM licenses WHERE license_key = %s)
   AND (last_seen_at IS NULL OR last_seen_at <= %s)
RETURNING status, livemode
"""
# Only when nothing was recorded: is the key unknown, or was the heartbeat too soon?
_LAST_SEEN = """
SELECT last_seen_at FROM host_licenses
 WHERE license_id = (SELECT id FROM licenses WHERE license_key = %s)
"""


# On PostgreSQL the three answers (recorded, too soon, unknown) come from one statement and one
# round trip: the license's row is read once, the UPDATE re-checks the limit on the row's latest
# version (so two heartbeats racing still record one), and the last accepted time comes back when
# nothing was recorded. Prepared once per connection (psycopg's prepare=True): the plan is not
# made again for each of the busiest path's calls.
_RECORD_HEARTBEAT_PG = """
WITH target AS (
    SELECT id, last_seen_at FROM host_licenses
     WHERE license_id = (SELECT id FROM licenses WHERE license_key = %(key)s)
), recorded AS (
    UPDATE host_licenses
       SET last_seen_at = %(now)s,
           plugin_version = COALESCE(%(version)s, host_licenses.plugin_version),
           player_count = COALESCE(%(players)s, host_licenses.player_count)
      FROM target
     WHERE host_licenses.id = target.id
       AND (host_licenses.last_seen_at IS NULL OR host_licenses.last_seen_at <= %(since)s)
    RETURNING host_licenses.status, host_licenses.livemode
)
SELECT recorded.status, recorded.livemode, target.last_seen_at{commit} FROM target LEFT JOIN recorded ON true
"""
# A heartbeat is committed without waiting for its WAL to reach the disk (asynchronous commit, for
# this statement's own transaction only: SET LOCAL). That wait was most of a heartbeat's time (an
# fsync, ~3 ms here, with a thread held for it). What a database crash can lose is the last
# fraction of a second of heartbeats (wal_writer_delay x 3), never a half-written row: a plugin
# beats again within the minute, and nothing billable rides on last_seen_at.
# HEARTBEAT_SYNCHRONOUS_COMMIT=1 waits for the disk as every other write does.
_RECORD_HEARTBEAT_PG_SYNC = _RECORD_HEARTBEAT_PG.format(commit="")
_RECORD_HEARTBEAT_PG_ASYNC = _RECORD_HEARTBEAT_PG.format(commit=", set_config('synchronous_commit', 'off', true)")


def heartbeat_record(*, license_key, version=None, players=None):
    """Record that the plugin on a license's server is alive: one SQL statement on PostgreSQL,
    at most two elsewhere.

    No transaction: the one UPDATE is atomic on its own.
    """
    limit, period = parse_rate(settings.HEARTBEAT_RATE_LIMIT)
    interval = timedelta(seconds=period / limit)
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _heartbeat_record_postgresql(license_key, version, players, now, interval)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_HEARTBEAT, [adapt(now), version, players, license_key, adapt(now - interval)])
        row = cursor.fetchone()
        if row is not None:
            return HeartbeatResult(known=True, status=row[0], livemode=bool(row[1]))
        cursor.execute(_LAST_SEEN, [license_key])
        row = cursor.fetchone()
    if row is None:
        return HeartbeatResult(known=False)
    return _too_soon(row[0], now, interval)


def _heartbeat_record_postgresql(license_key, version, players, now, interval):
    params = {"key": license_key, "now": now, "version": version, "players": players, "since": now - interval}
    reused = _skip_health_check_round_trip()
    try:
        row = _execute_heartbeat(params)
    except OperationalError:
        # A reused connection the server dropped (a restart, a failover, an idle timeout) fails on
        # its first statement instead of on Django's SELECT 1: connect again and send it once more.
        # (Had the server run it before the connection broke, the second is refused as too soon: a
        # 429 the plugin retries.) A statement timeout or a silent server leaves no retry.
        raw = connection.connection
        if not reused or raw is None or not raw.broken:
            raise
        connection.close()
        row = _execute_heartbeat(params)
    if row is None:
        return HeartbeatResult(known=False)
    status, livemode, last_seen = row
    if status is not None:
        return HeartbeatResult(known=True, status=status, livemode=livemode)
    return _too_soon(last_seen, now, interval)


def _skip_health_check_round_trip():
    """CONN_HEALTH_CHECKS' `SELECT 1` is a round trip per request, as dear as the heartbeat's own
    statement; psycopg knows locally whether its connection is open and idle. Whether the server
    still holds it shows in the statement itself (the retry above). True when a connection is reused."""
    raw = connection.connection
    if raw is None or not connection.health_check_enabled or connection.health_check_done:
        return raw is not None
    if raw.closed or raw.info.transaction_status not in (TransactionStatus.IDLE, TransactionStatus.INTRANS):
        connection.close()  # Django's check would have failed too: a new connection below
        return False
    connection.health_check_done = True
    return True


def _execute_heartbeat(params):
    # Django's cursor() for its connection and error mapping; a psycopg cursor of our own on that
    # connection, because Django's binds parameters on the client, which cannot prepare.
    with connection.cursor(), connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        prepare = settings.HEARTBEAT_PREPARED_STATEMENT
        if prepare and connection.connection.prepare_threshold is None:
            # Django turns psycopg's prepared statements off (None); prepare=True needs them on. A
            # threshold no query reaches keeps every other statement unprepared, as before.
            connection.connection.prepare_threshold = 2**31
        # Inside a caller's transaction, SET LOCAL would reach that transaction's other writes.
        asynchronous = not settings.HEARTBEAT_SYNCHRONOUS_COMMIT and not connection.in_atomic_block
        sql = _RECORD_HEARTBEAT_PG_ASYNC if asynchronous else _RECORD_HEARTBEAT_PG_SYNC
        started = time.monotonic()
        cursor.execute(sql, params, prepare=prepare)
        row = cursor.fetchone()
        if connection.queries_logged:  # counted where Django counts its own (query budgets, debug)
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return row[:3] if row else row


def _too_soon(last_seen, now, interval):
    if isinstance(last_seen, str):
        last_seen = datetime.fromisoformat(last_seen)
    if last_seen is not None and last_seen.tzinfo is None:  # SQLite keeps UTC without a zone
        last_seen = last_seen.replace(tzinfo=UTC)
    wait = (last_seen + interval - now).total_seconds() if last_seen else 1
    return HeartbeatResult(known=True, retry_after=max(1, math.ceil(wait)))


@transaction.atomic
def status_history_backfill():
    """Adds the status history the previous release's writes lacked (see licensing/status_backfill.py);
    (licenses given a history, histories closed on their license's status). Safe to re-run."""
    return status_backfill.backfill(connection)
