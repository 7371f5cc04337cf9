"""Validate 0015's widened check on the existing rows: SHARE UPDATE EXCLUSIVE, so reads and
writes go on meanwhile. In its own migration, so 0015's brief lock is released first. PostgreSQL only."""

from django.db import migrations

from corrosion.migration_operations import validate_constraint


class Migration(migrations.Migration):
    dependencies = [("licensing", "0015_actor_type_partner")]

    operations = [validate_constraint("license_status_changes", "license_status_changes_actor_type_valid")]
