"""Back-fill every existing license's status history from what is known.

Sources, per license:
- its provisioning: the first row, `active` at `provisioned_at`, by the actor of its
  `license.provisioned` audit event;
- the audit trail's `license.suspended` / `license.resumed` / `license.terminated` events, each
  with its actor and time: preferred wherever the trail has that kind of change for the license;
- where it has not (rows written outside the services), the license's own `suspended_at`,
  `resumed_at` and `terminated_at`: the last change of each kind, by an unknown actor;
- last, for a license whose history would still end on another status than its own (data
  written by hand), one row bringing it to its status, so the history always ends where the
  license is.

Locks: two INSERT ... SELECT statements, set-based (no row travels to Python), then the table's
two indexes, in this migration's own transaction. They read licenses and audit_events under
ACCESS SHARE, which blocks no reads and no writes, and write only the new table, which has no
foreign key yet (0008 adds it NOT VALID, 0009 validates it without blocking writes): no lock is
taken on a license row, and nothing but this migration uses the new table yet.
Status changes made meanwhile by the old code still serving are not in its snapshot: start the
new code right after migrating.
"""

from django.db import migrations, models

UNKNOWN = "back-fill: actor unknown"

_KINDS = """
    CASE action WHEN 'license.suspended' THEN 'suspended' WHEN 'license.resumed' THEN 'active'
                ELSE 'terminated' END
"""
# Within one instant: provisioning first, then suspension, resumption, termination.
_STEP = "CASE action WHEN 'license.suspended' THEN 1 WHEN 'license.resumed' THEN 2 ELSE 3 END"

HISTORY = f"""
WITH trail AS (
    SELECT l.id AS license_id, a.action, a.occurred_at, a.actor_type, a.actor
      FROM audit_events a
      JOIN licenses l ON a.target_id = {{license_id_text}}
     WHERE a.target_type = 'licensing.license'
       AND a.action IN ('license.provisioned', 'license.suspended', 'license.resumed', 'license.terminated')
),
kinds AS (
    SELECT license_id,
           max(CASE WHEN action = 'license.suspended' THEN 1 ELSE 0 END) AS suspended,
           max(CASE WHEN action = 'license.resumed' THEN 1 ELSE 0 END) AS resumed,
           max(CASE WHEN action = 'license.terminated' THEN 1 ELSE 0 END) AS terminated
      FROM trail
     GROUP BY license_id
),
provisioners AS (
    SELECT license_id, actor_type, actor
      FROM (SELECT license_id, actor_type, actor,
                   row_number() OVER (PARTITION BY license_id ORDER BY occurred_at) AS n
              FROM trail WHERE action = 'license.provisioned') AS first_event
     WHERE n = 1
),
changes AS (
    SELECT l.id AS license_id, 'active' AS status, l.provisioned_at AS changed_at, 0 AS step,
           COALESCE(p.actor_type, 'system') AS actor_type, COALESCE(p.actor, '{UNKNOWN}') AS actor
      FROM licenses l LEFT JOIN provisioners p ON p.license_id = l.id
    UNION ALL
    SELECT license_id, {_KINDS}, occurred_at, {_STEP}, actor_type, actor
      FROM trail WHERE action <> 'license.provisioned'
    UNION ALL
    SELECT l.id, 'suspended', l.suspended_at, 1, 'system', '{UNKNOWN}'
      FROM licenses l LEFT JOIN kinds k ON k.license_id = l.id
     WHERE l.suspended_at IS NOT NULL AND COALESCE(k.suspended, 0) = 0
    UNION ALL
    SELECT l.id, 'active', l.resumed_at, 2, 'system', '{UNKNOWN}'
      FROM licenses l LEFT JOIN kinds k ON k.license_id = l.id
     WHERE l.resumed_at IS NOT NULL AND COALESCE(k.resumed, 0) = 0
    UNION ALL
    SELECT l.id, 'terminated', l.terminated_at, 3, 'system', '{UNKNOWN}'
      FROM licenses l LEFT JOIN kinds k ON k.license_id = l.id
     WHERE l.terminated_at IS NOT NULL AND COALESCE(k.terminated, 0) = 0
)
INSERT INTO license_status_changes (id, license_id, sequence, status, changed_at, actor_type, actor)
SELECT {{new_id}}, license_id,
       row_number() OVER (PARTITION BY license_id ORDER BY changed_at, step),
       status, changed_at, actor_type, actor
  FROM changes
"""

# A history that ends on another status than the license's gets one more row: to that status, at
# the license's last status change (never before the history's own last row).
CLOSE_GAPS = f"""
INSERT INTO license_status_changes (id, license_id, sequence, status, changed_at, actor_type, actor)
SELECT {{new_id}}, l.id, last.sequence + 1, l.status, {{greatest}}(l.status_changed_at, last.changed_at),
       'system', '{UNKNOWN}'
  FROM licenses l
  JOIN (SELECT license_id, sequence, status, changed_at,
               row_number() OVER (PARTITION BY license_id ORDER BY sequence DESC) AS n
          FROM license_status_changes) AS last ON last.license_id = l.id AND last.n = 1
 WHERE last.status <> l.status
"""

# The same statements on either database; only these spellings differ. SQLite keeps a UUID as 32
# hex digits, where the audit trail's target_id has the dashes.
DIALECTS = {
    "postgresql": {"new_id": "gen_random_uuid()", "license_id_text": "l.id::text", "greatest": "GREATEST"},
    "sqlite": {
        "new_id": "lower(hex(randomblob(16)))",
        "license_id_text": (
            "substr(l.id, 1, 8) || '-' || substr(l.id, 9, 4) || '-' || substr(l.id, 13, 4) || '-' "
            "|| substr(l.id, 17, 4) || '-' || substr(l.id, 21)"
        ),
        "greatest": "max",
    },
}


def backfill(apps, schema_editor):
    dialect = DIALECTS[schema_editor.connection.vendor]
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            # Sorts and hashes over 200,000 rows in memory rather than in temporary files.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(HISTORY.format(**dialect))
        cursor.execute(CLOSE_GAPS.format(**dialect))


def forget(apps, schema_editor):
    # The back-fill is all the table holds at this point. PostgreSQL's trigger refuses DELETE, not TRUNCATE.
    table = "license_status_changes"
    schema_editor.execute(f"TRUNCATE {table}" if schema_editor.connection.vendor == "postgresql" else f"DELETE FROM {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        ("licensing", "0007_license_status_changes"),
    ]

    operations = [
        migrations.RunPython(backfill, forget, elidable=False),
        # Built once the rows are in (a sort each), not entry by entry; they lock only this table.
        migrations.AddConstraint(
            model_name="licensestatuschange",
            constraint=models.UniqueConstraint(
                fields=("license", "sequence"), name="license_status_changes_license_sequence"
            ),
        ),
        migrations.AddIndex(
            model_name="licensestatuschange",
            index=models.Index(fields=["license", "changed_at", "sequence"], name="license_status_time_idx"),
        ),
    ]
