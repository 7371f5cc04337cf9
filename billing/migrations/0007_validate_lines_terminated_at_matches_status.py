"""Validate 0006's check on the existing lines: SHARE UPDATE EXCLUSIVE, so bills are read and months
closed meanwhile. In its own migration, so 0006's brief lock is released first. PostgreSQL only."""

from django.db import migrations


def validate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE host_billing_lines VALIDATE CONSTRAINT host_billing_lines_terminated_at_matches_status"
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_lines_terminated_at_matches_status")]

    operations = [migrations.RunPython(validate, migrations.RunPython.noop, elidable=False)]
