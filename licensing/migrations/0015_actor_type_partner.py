"""license_status_changes: a partner user (the portal) is an actor too.

The check is widened, so every existing row already holds it; still, adding a CHECK scans the
whole table under ACCESS EXCLUSIVE. On PostgreSQL it is re-added NOT VALID (no scan: the lock lasts
a moment, waited for at most 10 seconds) and 0016 validates it under SHARE UPDATE EXCLUSIVE, which
blocks neither reads nor writes. SQLite does it the usual way.
"""

from django.db import migrations, models

from corrosion.migration_operations import AddCheckNotValid


class Migration(migrations.Migration):
    dependencies = [("licensing", "0014_validate_licenses_key_prefix_matches_mode")]

    operations = [
        migrations.RemoveConstraint(model_name="licensestatuschange", name="license_status_changes_actor_type_valid"),
        migrations.AlterField(
            model_name="licensestatuschange",
            name="actor_type",
            field=models.CharField(
                choices=[
                    ("host_key", "Host API key"),
                    ("staff", "Staff user"),
                    ("command", "Management command"),
                    ("system", "System"),
                    ("partner", "Partner user"),
                ],
                max_length=16,
            ),
        ),
        AddCheckNotValid(
            model_name="licensestatuschange",
            constraint=models.CheckConstraint(
                condition=models.Q(("actor_type__in", ["host_key", "staff", "command", "system", "partner"])), name="license_status_changes_actor_type_valid"
            ),
        ),
    ]
