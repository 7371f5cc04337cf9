"""The month close's ceiling: the least SQL that writes the same rows, one INSERT ... SELECT.

It applies the billing rule (SPEC: Billing rule) written out by hand, picks each server's last
qualifying license with DISTINCT ON, counts them per host with GROUP BY, takes the rate in force
at the month's end, and inserts the records and their lines in one statement. No progress, no
summary, no audit record, no lock: nothing an operator would miss only in a benchmark. The
seeder also uses it to write the months closed before the benchmark's.
"""

import uuid
from datetime import timedelta

from django.conf import settings

from billing.months import month_end, month_start

CLOSE_MONTH = """
WITH billable AS MATERIALIZED (
    SELECT DISTINCT ON (hl.host_id, hl.server_identifier)
           hl.host_id, hl.server_identifier, hl.license_id, l.license_key, l.hostname, hl.customer_email,
           hl.status, hl.provisioned_at, hl.terminated_at
      FROM host_licenses hl
      JOIN licenses l ON l.id = hl.license_id
     WHERE hl.provisioned_at < %(end)s
       AND (hl.terminated_at IS NULL
            OR (hl.terminated_at >= %(start)s AND hl.terminated_at >= hl.provisioned_at + %(grace)s))
     ORDER BY hl.host_id, hl.server_identifier, hl.provisioned_at DESC, hl.id DESC
), counts AS (
    SELECT b.host_id, count(*) AS servers,
           COALESCE((SELECT r.wholesale_rate_usd FROM host_rates r
                      WHERE r.host_id = b.host_id AND r.effective_from < %(end)s
                      ORDER BY r.effective_from DESC LIMIT 1),
                    (SELECT h.wholesale_rate_usd FROM hosts h WHERE h.id = b.host_id)) AS rate
      FROM billable b
     GROUP BY b.host_id
), records AS (
    INSERT INTO host_billing_records (id, host_id, billing_month, active_license_count, wholesale_rate_usd,
                                      total_amount_usd, generated_at)
    SELECT gen_random_uuid(), host_id, %(month)s, servers, rate, servers * rate, %(now)s FROM counts
    RETURNING id, host_id
)
INSERT INTO host_billing_lines (id, record_id, server_id, license_id, license_key, hostname, customer_email, status,
                                provisioned_at, terminated_at)
SELECT gen_random_uuid(), records.id, b.server_identifier, b.license_id, b.license_key, b.hostname, b.customer_email,
       b.status, b.provisioned_at, b.terminated_at
  FROM billable b JOIN records USING (host_id)
"""


def register_month(cursor, *, month, now):
    cursor.execute(
        "INSERT INTO billing_months (id, month, closed_at, closed_by) VALUES (%s, %s, %s, 'command:bench')",
        [uuid.uuid4(), month, now],
    )


def close_month(cursor, *, month, now):
    """Write `month`'s records and lines and register it closed; returns the number of lines."""
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
    lines = cursor.rowcount
    register_month(cursor, month=month, now=now)
    return lines
