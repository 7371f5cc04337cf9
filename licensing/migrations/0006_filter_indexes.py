"""Indexes for the host API's case-insensitive `hostname` and `customer_email` filters.

Both tables may hold hundreds of thousands of rows and take writes all the time (heartbeats,
provisioning): on PostgreSQL each index is built CONCURRENTLY, which takes no lock that blocks
reads or writes, so this migration is not atomic (CONCURRENTLY cannot run in a transaction). If
it is interrupted, PostgreSQL leaves an INVALID index behind: drop it and migrate again. SQLite,
the demo's database, builds them plainly.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Upper


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("licensing", "0005_host_licenses_fillfactor"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="hostlicense",
            index=models.Index(models.F("host"), Upper("customer_email"), name="host_licenses_email_idx"),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="license",
            index=models.Index(Upper("hostname"), name="licenses_hostname_upper_idx"),
        ),
    ]
