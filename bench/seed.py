"""A realistic data set, written with set-based SQL (generate_series), so 200,000 licenses take seconds.

The shape (defaults; `Shape` scales it down for the harness's own test):

- `hosts - 1` ordinary hosts with `per_host` licenses each, over a few months of history: every
  tenth server had a license terminated and replaced, a few licenses were terminated (some
  within the billing grace: free mistakes), a few are suspended, most were seen in the last
  quarter of an hour; some hosts changed their rate during the history;
- one more host, "Whale Hosting", with `whale` licenses all billable in the month the benchmark
  closes, so its bill of that month has `whale` lines (the CSV streamed in the benchmark) and its
  license list is `whale` rows deep;
- the two months before that month closed already (records and lines, as month close writes
  them), and the month before the history closed with nothing billable (the "small month" of the
  export);
- one customer per two licenses, one audit event per provisioning and termination, each license's
  status history, one API key per host.

Everything is written through one DB-API cursor (psycopg's or Django's), so the harness's test
can seed a tiny shape inside a test transaction.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench import ceiling
from billing.months import month_end, month_latest_closable, month_previous, month_start

WHALE_NAME = "Whale Hosting"


@dataclass(frozen=True)
class Shape:
    hosts: int = 1000  # including the whale
    per_host: int = 100
    whale: int = 100_000

    @property
    def fleet_licenses(self):
        return (self.hosts - 1) * self.per_host

    @property
    def reused_servers(self):
        """Servers per ordinary host whose first license was terminated and replaced."""
        return self.per_host // 10


@dataclass(frozen=True)
class Seeded:
    shape: Shape
    month: object  # the month the benchmark closes (a date)
    small_month: object  # a closed month with nothing billable
    whale_id: str
    whale_key: str
    small_id: str  # an ordinary host: `per_host` licenses
    small_key: str
    host_keys: list  # the ordinary hosts' raw API keys, but the small one's: provisioning leaves it 100 deep
    license_keys: list  # every non-terminated license key, in a scrambled order
    licenses: int


def _host_id(salt, n):
    # md5 of the salt and the host's number, read as a UUID: stable within one seeding, so
    # every statement below can name host n without a lookup table.
    return f"md5({salt!r} || ':host:' || {n})::uuid"


def seed(cursor, *, now: datetime, shape: Shape = Shape(), salt: str | None = None) -> Seeded:
    """Write the data set into an empty, migrated database; `now` is the moment it is seeded at."""
    salt = salt or secrets.token_hex(8)
    month = month_latest_closable(now=now)
    history = month_start(month_previous(month_previous(month)))
    small_month = month_previous(month_previous(month_previous(month)))
    p = {
        "salt": salt,
        "now": now,
        "history": history,
        "month_end": month_end(month),
        "hosts": shape.hosts,
        "per_host": shape.per_host,
        "servers": shape.per_host - shape.reused_servers,
        "reused": shape.reused_servers,
        "whale": shape.whale,
    }
    _hosts(cursor, p)
    _licenses(cursor, p)
    _audit(cursor, p)
    cursor.execute("DROP TABLE bench_spec, bench_licenses")
    # The two months before the benchmark's closed as month close would have (same rows), and
    # an empty one before the history started.
    for closed in (month_previous(month_previous(month)), month_previous(month)):
        ceiling.close_month(cursor, month=closed, now=month_end(closed) + timedelta(days=3, hours=1))
    ceiling.register_month(cursor, month=small_month, now=month_end(small_month) + timedelta(days=3, hours=1))
    return _read_back(cursor, p, shape=shape, month=month, small_month=small_month)


def _hosts(cursor, p):
    cursor.execute(
        f"""
        INSERT INTO hosts (id, company_name, contact_email, wholesale_rate_usd, active, created_at, updated_at)
        SELECT {_host_id(p["salt"], "n")},
               CASE WHEN n = 0 THEN '{WHALE_NAME}' ELSE 'Host ' || lpad(n::text, 4, '0') || ' Ltd' END,
               'billing@host' || n || '.bench.test',
               (ARRAY[6.00, 5.50, 5.00, 4.75])[1 + mod(n, 4)],
               true, %(history)s - interval '30 days', %(now)s
          FROM generate_series(0, %(hosts)s - 1) AS n
        """,
        p,
    )
    # The rate history: the rate since the host was created, and for every tenth host a lower rate
    # from the middle of the history on (billing reads the rate in force at each month's end).
    cursor.execute(
        f"""
        INSERT INTO host_rates (id, host_id, wholesale_rate_usd, effective_from)
        SELECT gen_random_uuid(), h.id, h.wholesale_rate_usd + CASE WHEN mod(n, 10) = 3 THEN 0.50 ELSE 0 END, h.created_at
          FROM generate_series(0, %(hosts)s - 1) AS n JOIN hosts h ON h.id = {_host_id(p["salt"], "n")}
        UNION ALL
        SELECT gen_random_uuid(), h.id, h.wholesale_rate_usd, %(history)s + interval '40 days'
          FROM generate_series(0, %(hosts)s - 1) AS n JOIN hosts h ON h.id = {_host_id(p["salt"], "n")}
         WHERE mod(n, 10) = 3
        """,
        p,
    )
    # One key per host: crn_<key id>_<secret>, only its SHA-256 stored, as the app issues them.
    cursor.execute(
        f"""
        INSERT INTO host_api_keys (id, host_id, key_id, digest, name, created_at, last_used_at)
        SELECT gen_random_uuid(), {_host_id(p["salt"], "n")}, 'bk' || lpad(n::text, 6, '0'),
               encode(sha256(convert_to({_raw_key_sql(p["salt"])}, 'UTF8')), 'hex'),
               'bench', %(history)s - interval '30 days', %(now)s
          FROM generate_series(0, %(hosts)s - 1) AS n
        """,
        p,
    )


def _raw_key_sql(salt):
    return f"'crn_bk' || lpad(n::text, 6, '0') || '_' || md5({salt!r} || ':k1:' || n) || md5({salt!r} || ':k2:' || n)"


def _licenses(cursor, p):
    host_id = _host_id(p["salt"], "h")
    # One row per license to write, built in a scratch table from random draws per server.
    cursor.execute(
        """
        CREATE TEMP TABLE bench_spec (
            h int, s int, second bool, provisioned_at timestamptz, terminated_at timestamptz,
            suspended_at timestamptz, status text, r double precision
        )
        """
    )
    span = "(%(now)s::timestamptz - %(history)s::timestamptz - interval '1 day')"
    cursor.execute(
        f"""
        INSERT INTO bench_spec (h, s, second, provisioned_at, terminated_at, suspended_at, status, r)
        SELECT h, s, false, prov,
               CASE WHEN s < %(reused)s THEN prov + interval '4 days' + r2 * interval '20 days'
                    WHEN r3 < 0.01 THEN prov + interval '2 hours'  -- a mistake, free under the grace
                    WHEN r3 < 0.04 THEN prov + r2 * (%(now)s - prov) END,
               CASE WHEN s >= %(reused)s AND r3 >= 0.04 AND r3 < 0.09 THEN prov + r2 * (%(now)s - prov) END,
               CASE WHEN s < %(reused)s OR r3 < 0.04 THEN 'terminated'
                    WHEN r3 < 0.09 THEN 'suspended' ELSE 'active' END,
               r3
          FROM (
            SELECT h, s, r2, r3,
                   CASE WHEN s < %(reused)s THEN %(history)s + r1 * interval '20 days'
                        ELSE %(history)s + r1 * {span} END AS prov
              FROM (SELECT h, s, random() AS r1, random() AS r2, random() AS r3
                      FROM generate_series(1, %(hosts)s - 1) AS h, generate_series(0, %(servers)s - 1) AS s) draws
          ) servers
        """,
        p,
    )
    # Every replaced server's second license, provisioned an hour after the first was terminated.
    cursor.execute(
        """
        INSERT INTO bench_spec (h, s, second, provisioned_at, status, r)
        SELECT h, s, true, terminated_at + interval '1 hour', 'active', random()
          FROM bench_spec WHERE s < %(reused)s
        """,
        p,
    )
    # The whale: every license provisioned before the benchmark's month ends (and early enough
    # that a termination after it is no grace-period mistake), so all of them bill in it; one in
    # twenty terminated since (still billed that month), one in twenty suspended.
    cursor.execute(
        """
        INSERT INTO bench_spec (h, s, second, provisioned_at, terminated_at, suspended_at, status, r)
        SELECT 0, s, false, prov,
               CASE WHEN mod(s, 20) = 0 THEN %(month_end)s + r2 * (%(now)s - %(month_end)s - interval '1 hour') END,
               CASE WHEN mod(s, 20) = 1 THEN prov + r2 * (%(now)s - prov) END,
               CASE mod(s, 20) WHEN 0 THEN 'terminated' WHEN 1 THEN 'suspended' ELSE 'active' END,
               random()
          FROM (SELECT s, random() AS r2,
                       %(history)s + random() * (%(month_end)s - %(history)s - interval '4 days') AS prov
                  FROM generate_series(0, %(whale)s - 1) AS s) draws
        """,
        p,
    )
    cursor.execute(
        """
        CREATE TEMP TABLE bench_licenses AS
        SELECT row_number() OVER (ORDER BY h, s, second) - 1 AS i, gen_random_uuid() AS id,
               gen_random_uuid() AS host_license_id, *
          FROM bench_spec
        """
    )
    # A customer per two licenses; the username is the lowercased e-mail, as provisioning makes it.
    cursor.execute("SELECT COALESCE(max(id), 0) + 1 FROM auth_user")
    p["user_base"] = cursor.fetchone()[0]
    cursor.execute(
        """
        INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff,
                               is_active, date_joined)
        OVERRIDING SYSTEM VALUE
        SELECT %(user_base)s + c, '!' || md5(random()::text), false, 'player' || c || '@bench.test', '', '',
               'player' || c || '@bench.test', false, true, %(history)s
          FROM generate_series(0, (SELECT (count(*) - 1) / 2 FROM bench_licenses)) AS c
        """,
        p,
    )
    cursor.execute("SELECT setval(pg_get_serial_sequence('auth_user', 'id'), (SELECT max(id) FROM auth_user))")
    # Keys in the app's format: CRN- and six groups of five Crockford base-32 characters (hex
    # digits are a subset of that alphabet).
    key = "upper(md5(%(salt)s || ':key:' || i))"
    groups = " || '-' || ".join(f"substr(k, {1 + 5 * g}, 5)" for g in range(6))
    cursor.execute(
        f"""
        INSERT INTO licenses (id, license_key, companion_token, customer_id, hostname, subdomain, status,
                              provisioned_at, suspended_at, terminated_at, status_changed_at, updated_at)
        SELECT id, 'CRN-' || {groups}, md5(%(salt)s || ':ct:' || i) || substr(md5(%(salt)s || ':ct2:' || i), 1, 11),
               %(user_base)s + i / 2,
               CASE WHEN h = 0 THEN 'rust' || s || '.whale.example' ELSE 'play' || s || '.host' || h || '.example' END,
               'srv-' || i || '-' || substr(md5(%(salt)s || ':sd:' || i), 1, 6), status,
               provisioned_at, suspended_at, terminated_at,
               GREATEST(provisioned_at, suspended_at, terminated_at), %(now)s
          FROM (SELECT *, {key} AS k FROM bench_licenses) AS l
        """,
        p,
    )
    cursor.execute(
        f"""
        INSERT INTO host_licenses (id, host_id, license_id, server_identifier, customer_email, status,
                                   provisioned_at, terminated_at, last_seen_at, plugin_version, player_count)
        SELECT host_license_id, {host_id}, id,
               CASE WHEN h = 0 THEN 'whale-' || s ELSE 'rust-' || h || '-' || s END,
               'player' || (i / 2) || '@bench.test', status, provisioned_at, terminated_at,
               CASE WHEN status = 'terminated' THEN terminated_at
                    ELSE %(now)s - interval '60 seconds' - r * interval '900 seconds' END,
               '2.4.' || mod(i, 5), mod(i * 7, 100)
          FROM bench_licenses
        """,
        p,
    )
    # Each license's status history, as the services write it: active from provisioning, then
    # suspended or terminated (no license here is both), by the host's key.
    cursor.execute(
        """
        INSERT INTO license_status_changes (id, license_id, sequence, status, changed_at, actor_type, actor)
        SELECT gen_random_uuid(), id, 1, 'active', provisioned_at, 'host_key', 'bk' || lpad(h::text, 6, '0')
          FROM bench_licenses
        UNION ALL
        SELECT gen_random_uuid(), id, 2, status, COALESCE(terminated_at, suspended_at), 'host_key',
               'bk' || lpad(h::text, 6, '0')
          FROM bench_licenses WHERE status <> 'active'
        """
    )


def _audit(cursor, p):
    cursor.execute(
        f"""
        INSERT INTO audit_events (id, occurred_at, actor_type, actor, action, target_type, target_id, data)
        SELECT gen_random_uuid(), provisioned_at, 'host_key', 'bk' || lpad(h::text, 6, '0'), 'license.provisioned',
               'licensing.license', id::text,
               jsonb_build_object('host_id', {_host_id(p["salt"], "h")}::text, 'server_id', 'srv-' || s)
          FROM bench_licenses
        UNION ALL
        SELECT gen_random_uuid(), terminated_at, 'host_key', 'bk' || lpad(h::text, 6, '0'), 'license.terminated',
               'licensing.license', id::text, '{{"from": "active", "to": "terminated"}}'::jsonb
          FROM bench_licenses WHERE terminated_at IS NOT NULL
        """,
        p,
    )


def _read_back(cursor, p, *, shape, month, small_month):
    cursor.execute(
        f"SELECT n, {_host_id(p['salt'], 'n')}::text, {_raw_key_sql(p['salt'])} FROM generate_series(0, %(hosts)s - 1) n",
        p,
    )
    hosts = {n: (host_id, raw_key) for n, host_id, raw_key in cursor.fetchall()}
    # Scrambled, so consecutive heartbeats touch rows all over the table, as real servers do.
    cursor.execute(
        "SELECT l.license_key FROM licenses l JOIN host_licenses hl ON hl.license_id = l.id "
        "WHERE hl.status <> 'terminated' ORDER BY md5(l.license_key)"
    )
    license_keys = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT count(*) FROM licenses")
    licenses = cursor.fetchone()[0]
    return Seeded(
        shape=shape,
        month=month,
        small_month=small_month,
        whale_id=hosts[0][0],
        whale_key=hosts[0][1],
        small_id=hosts[1][0],
        small_key=hosts[1][1],
        host_keys=[hosts[n][1] for n in range(2, p["hosts"])],
        license_keys=license_keys,
        licenses=licenses,
    )
