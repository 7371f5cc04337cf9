"""The licenses' status history: a new, empty table, append-only like the other history tables.

Its foreign key to licenses is added by 0008, after 0007 has back-filled the table: created here,
the constraint would check every back-filled row against licenses, taking a KEY SHARE lock on each
of 200,000 license rows until the back-fill commits (status changes would queue behind it). Its
two indexes are built by 0007 after the back-fill, in one pass each, rather than row by row.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

from corrosion.db import refuse_in_database


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        ("licensing", "0006_filter_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="LicenseStatusChange",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("sequence", models.PositiveIntegerField()),
                (
                    "status",
                    models.CharField(
                        choices=[("active", "Active"), ("suspended", "Suspended"), ("terminated", "Terminated")],
                        max_length=16,
                    ),
                ),
                ("changed_at", models.DateTimeField()),
                (
                    "actor_type",
                    models.CharField(
                        choices=[
                            ("host_key", "Host API key"),
                            ("staff", "Staff user"),
                            ("command", "Management command"),
                            ("system", "System"),
                        ],
                        max_length=16,
                    ),
                ),
                ("actor", models.CharField(max_length=150)),
                (
                    "license",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="status_changes",
                        to="licensing.license",
                    ),
                ),
            ],
            options={
                "db_table": "license_status_changes",
                "ordering": ["license", "sequence"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("sequence__gte", 1)), name="license_status_changes_sequence_gte_1"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["active", "suspended", "terminated"])),
                        name="license_status_changes_status_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("actor_type__in", ["host_key", "staff", "command", "system"])),
                        name="license_status_changes_actor_type_valid",
                    ),
                ],
            },
        ),
        refuse_in_database("license_status_changes", "UPDATE", "DELETE"),
    ]
