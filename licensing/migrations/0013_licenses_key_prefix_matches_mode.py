"""Licenses: a test license's key starts CRN-TEST-, and only a test license's key does.

Adding a CHECK takes ACCESS EXCLUSIVE on licenses (no heartbeat, no bill read) for as long as it
scans every row; so on PostgreSQL it is added NOT VALID (no scan: the lock lasts a moment, waited
for at most 10 seconds) and 0014 validates the existing rows under SHARE UPDATE EXCLUSIVE, which
blocks neither reads nor writes. SQLite adds it the usual way.
"""

from django.db import migrations, models

from corrosion.migration_operations import AddCheckNotValid


class Migration(migrations.Migration):
    dependencies = [("licensing", "0012_host_licenses_one_per_server_per_mode")]

    operations = [
        AddCheckNotValid(
            model_name="license",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("livemode", True), models.Q(("license_key__startswith", "CRN-TEST-"), _negated=True)),
                    models.Q(("license_key__startswith", "CRN-TEST-"), ("livemode", False)),
                    _connector="OR",
                ),
                name="licenses_key_prefix_matches_mode",
            ),
        ),
    ]
