"""The month close's ceiling: the least SQL that writes the same rows, one INSERT ... SELECT.

It applies the billing rule (SPEC: Billing rule) written out by hand: each server's licenses held in
the month, its last one (row_number) and their time held together (sum), each line's status at the
month's end; counts the billed servers per host with GROUP BY, takes the rate in force at the
month's end, and inserts the records, lines and waived lines in one statement. No progress, no
summary, no audit record, no lock: nothing an operator would miss only in a benchmark. The
seeder also uses it to write the months closed before the benchmark's.
"""

import uuid
from datetime import timedelta

from django.conf import settings

from billing.months import month_end, month_start

CLOSE_MONTH = """
WITH servers AS MATERIALIZED (
    SELECT * FROM (
        SELECT hl.host_id, hl.server_identifier, hl.license_id, l.license_key, l.hostname, hl.customer_email,
               CASE WHEN GREATEST(l.status_changed_at, l.suspended_at, l.resumed_at, l.terminated_at) < %(end)s
                    THEN hl.status
                    ELSE COALESCE((SELECT c.status FROM license_status_changes c
                                    WHERE c.license_id = hl.license_id AND c.changed_at < %(end)s
                                    ORDER BY c.changed_at DESC, c.sequence DESC LIMIT 1), hl.status) END AS status,
               hl.provisioned_at,
               CASE WHEN hl.terminated_at < %(end)s THEN hl.terminated_at END AS terminated_at,
               row_number() OVER (PARTITION BY hl.host_id, hl.server_identifier
                                  ORDER BY hl.provisioned_at DESC, hl.id DESC) AS rank,
               sum(COALESCE(hl.terminated_at - hl.provisioned_at, %(grace)s))
                   OVER (PARTITION BY hl.host_id, hl.server_identifier) < %(grace)s AS waived
          FROM host_licenses hl
          JOIN licenses l ON l.id = hl.license_id
         WHERE hl.provisioned_at < %(end)s AND (hl.terminated_at IS NULL OR hl.terminated_at >= %(start)s)
    ) AS held
     WHERE rank = 1
), counts AS (
    SELECT s.host_id, count(*) FILTER (WHERE NOT s.waived) AS servers,
           COALESCE((SELECT r.wholesale_rate_usd FROM host_rates r
                      WHERE r.host_id = s.host_id AND r.effective_from < %(end)s
                      ORDER BY r.effective_from DESC LIMIT 1),
                    (SELECT h.wholesale_rate_usd FROM hosts h WHERE h.id = s.host_id)) AS rate
      FROM servers s
     GROUP BY s.host_id
), records AS (
    INSERT INTO host_billing_records (id, host_id, billing_month, active_license_count, wholesale_rate_usd,
                                      total_amount_usd, generated_at)
    SELECT gen_random_uuid(), host_id, %(month)s, servers, rate, servers * rate, %(now)s FROM counts
    RETURNING id, host_id
), lines AS (
    INSERT INTO host_billing_lines (id, record_id, server_id, license_id, license_key, hostname, customer_email,
                                    status, provisioned_at, terminated_at)
    SELECT gen_random_uuid(), records.id, s.server_identifier, s.license_id, s.license_key, s.hostname,
           s.customer_email, s.status, s.provisioned_at, s.terminated_at
      FROM servers s JOIN records USING (host_id) WHERE NOT s.waived
    RETURNING 1
), waived_lines AS (
    INSERT INTO host_billing_waived_lines (id, record_id, server_id, license_id, license_key, hostname,
                                           customer_email, status, provisioned_at, terminated_at)
    SELECT gen_random_uuid(), records.id, s.server_identifier, s.license_id, s.license_key, s.hostname,
           s.customer_email, s.status, s.provisioned_at, s.terminated_at
      FROM servers s JOIN records USING (host_id) WHERE s.waived
)
SELECT count(*) FROM lines
"""


def register_month(cursor, *, month, now):
    cursor.execute(
        "INSERT INTO billing_months (id, month, closed_at, closed_by) VALUES (%s, %s, %s, 'command:bench')",
        [uuid.uuid4(), month, now],
    )


def close_month(cursor, *, month, now):
    """Write `month`'s records, lines and waived lines and register it closed; returns the number of lines."""
    cursor.execute("SET LOCAL jit = off")  # as month_close does: compiling cost more than running
    cursor.execute(
        CLOSE_MONTH,
        {
            "month": month,
            "start": month_start(month),
            "end": month_end(month),
            "grace": timedelta(hours=settings.BILLING_GRACE_HOURS),
            "now": now,
        },
    )
    (lines,) = cursor.fetchone()
    register_month(cursor, month=month, now=now)
    return lines
