"""Lines: `terminated` exactly when the line has a termination time (what the close writes now, and
what lines written before always held, as they copied both from the license).

host_billing_lines grows by a line per billed server per month (hundreds of thousands of rows).
Adding a CHECK takes ACCESS EXCLUSIVE on the table, which blocks reading bills, for as long as it
scans every row; so on PostgreSQL it is added NOT VALID (no scan: the lock lasts a moment, and is
waited for at most 10 seconds) and 0007 validates the existing rows under SHARE UPDATE EXCLUSIVE,
which blocks neither reads nor writes. SQLite adds it the usual way.
"""

from django.db import migrations, models

from corrosion.migration_operations import AddCheckNotValid


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_waived_lines")]

    operations = [
        AddCheckNotValid(
            model_name="billingline",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "terminated"), ("terminated_at__isnull", False)),
                    models.Q(models.Q(("status", "terminated"), _negated=True), ("terminated_at__isnull", True)),
                    _connector="OR",
                ),
                name="host_billing_lines_terminated_at_matches_status",
            ),
        ),
    ]
