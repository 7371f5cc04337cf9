"""Validate 0003's widened check on the existing rows: SHARE UPDATE EXCLUSIVE, so reads and
writes go on meanwhile. In its own migration, so 0003's brief lock is released first. PostgreSQL only."""

from django.db import migrations

from corrosion.migration_operations import validate_constraint


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_actor_type_partner")]

    operations = [validate_constraint("audit_events", "audit_actor_type_valid")]
