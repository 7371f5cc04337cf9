"""Validate 0015's widened check on the existing rows: SHARE UPDATE EXCLUSIVE, so reads and
writes go on meanwhile. In its own migration, so 0015's brief lock is released first. PostgreSQL only."""

from django.db import migrations


def validate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE license_status_changes VALIDATE CONSTRAINT license_status_changes_actor_type_valid")


class Migration(migrations.Migration):
    dependencies = [("licensing", "0015_actor_type_partner")]

    operations = [migrations.RunPython(validate, migrations.RunPython.noop, elidable=False)]
