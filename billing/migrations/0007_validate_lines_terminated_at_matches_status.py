"""Validate 0006's check on the existing lines: SHARE UPDATE EXCLUSIVE, so bills are read and months
closed meanwhile. In its own migration, so 0006's brief lock is released first. PostgreSQL only."""

from django.db import migrations

from corrosion.migration_operations import validate_constraint


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_lines_terminated_at_matches_status")]

    operations = [validate_constraint("host_billing_lines", "host_billing_lines_terminated_at_matches_status")]
