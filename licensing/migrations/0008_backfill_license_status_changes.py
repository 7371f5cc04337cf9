"""Back-fill every existing license's status history from what is known.

The statements and their sources: licensing/status_backfill.py.

Locks: two INSERT ... SELECT statements, set-based (no row travels to Python), then the table's
two indexes, in this migration's own transaction. They read licenses and audit_events under
ACCESS SHARE, which blocks no reads and no writes, and write only the new table, which has no
foreign key yet (0008 adds it NOT VALID, 0009 validates it without blocking writes): no lock is
taken on a license row, and nothing but this migration uses the new table yet.
Status changes made meanwhile by the old code still serving are not in its snapshot: once the
old release has stopped, `manage.py backfill_status_history` adds what it missed.
"""

from django.db import migrations, models

from licensing import status_backfill


def backfill(apps, schema_editor):
    status_backfill.backfill(schema_editor.connection)


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
