"""Validate 0013's check on the existing licenses: SHARE UPDATE EXCLUSIVE, so heartbeats and bills go
on meanwhile. In its own migration, so 0013's brief lock is released first. PostgreSQL only."""

from django.db import migrations

from corrosion.migration_operations import validate_constraint


class Migration(migrations.Migration):
    dependencies = [("licensing", "0013_licenses_key_prefix_matches_mode")]

    operations = [validate_constraint("licenses", "licenses_key_prefix_matches_mode")]
