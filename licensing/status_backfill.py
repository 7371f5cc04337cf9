"""Each license's status history rebuilt from what is known, for licenses that lack it.

Migration 0008 ran this once over every license when the history began. A release rolled out
under load leaves a gap: licenses the previous release provisioned or changed while this one's
migrations ran (after 0008's snapshot) have no history, or one that ends on another status.
`manage.py backfill_status_history` runs the same statements again: they only add what is
missing, so it is safe to re-run; the README's Deploy section runs it once the previous release
has stopped serving.

Sources, per license:
- its provisioning: the first row, `active` at `provisioned_at`, by the actor of its
  `license.provisioned` audit event;
- the audit trail's `license.suspended` / `license.resumed` / `license.terminated` events, each
  with its actor and time: preferred wherever the trail has that kind of change for the license;
- where it has not (rows written outside the services), the license's own `suspended_at`,
  `resumed_at` and `terminated_at`: the last change of each kind, by an unknown actor;
- last, for a license whose history would still end on another status than its own (data
  written by hand, or changed by the previous release after its history was written), one row
  bringing it to its status, so the history always ends where the license is.
"""

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
 WHERE NOT EXISTS (SELECT 1 FROM license_status_changes s WHERE s.license_id = changes.license_id)
"""

WITHOUT_HISTORY = """
SELECT count(*) FROM licenses l
 WHERE NOT EXISTS (SELECT 1 FROM license_status_changes s WHERE s.license_id = l.id)
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


def backfill(connection):
    """Writes the missing history rows; (licenses that had none, histories closed on their status)."""
    dialect = DIALECTS[connection.vendor]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Sorts and hashes over 200,000 rows in memory rather than in temporary files.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(WITHOUT_HISTORY)
        (started,) = cursor.fetchone()
        cursor.execute(HISTORY.format(**dialect))
        cursor.execute(CLOSE_GAPS.format(**dialect))
        return started, cursor.rowcount
