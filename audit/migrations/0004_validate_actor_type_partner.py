"""Validate 0003's widened check on the existing rows: SHARE UPDATE EXCLUSIVE, so reads and
writes go on meanwhile. In its own migration, so 0003's brief lock is released first. PostgreSQL only."""

from django.db import migrations


def validate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_events VALIDATE CONSTRAINT audit_actor_type_valid")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_actor_type_partner")]

    operations = [migrations.RunPython(validate, migrations.RunPython.noop, elidable=False)]
