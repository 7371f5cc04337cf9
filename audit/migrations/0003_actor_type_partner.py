"""audit_events: a partner user (the portal) is an actor too.

The check is widened, so every existing row already holds it; still, adding a CHECK scans the
whole table under ACCESS EXCLUSIVE. On PostgreSQL it is re-added NOT VALID (no scan: the lock lasts
a moment, waited for at most 10 seconds) and 0004 validates it under SHARE UPDATE EXCLUSIVE, which
blocks neither reads nor writes. SQLite does it the usual way.
"""

from django.db import migrations, models

from corrosion.migration_operations import AddCheckNotValid


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.RemoveConstraint(model_name="auditevent", name="audit_actor_type_valid"),
        migrations.AlterField(
            model_name="auditevent",
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
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(("actor_type__in", ["host_key", "staff", "command", "system", "partner"])), name="audit_actor_type_valid"
            ),
        ),
    ]
