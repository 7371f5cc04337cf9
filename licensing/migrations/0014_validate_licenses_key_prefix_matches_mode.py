"""Validate 0013's check on the existing licenses: SHARE UPDATE EXCLUSIVE, so heartbeats and bills go
on meanwhile. In its own migration, so 0013's brief lock is released first. PostgreSQL only."""

from django.db import migrations


def validate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE licenses VALIDATE CONSTRAINT licenses_key_prefix_matches_mode")


class Migration(migrations.Migration):
    dependencies = [("licensing", "0013_licenses_key_prefix_matches_mode")]

    operations = [migrations.RunPython(validate, migrations.RunPython.noop, elidable=False)]
