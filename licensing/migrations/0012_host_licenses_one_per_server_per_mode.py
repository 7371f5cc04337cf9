"""A host has at most one non-terminated license per server id in each mode (live, test): the
partial unique index gains `livemode`, replacing the one that held across both modes.

host_licenses is the biggest table. A plain CREATE INDEX holds a SHARE lock (no provisioning, no
status change, no heartbeat) for as long as it reads every row; so on PostgreSQL the new index is
built CONCURRENTLY (writes go on meanwhile; hence a non-atomic migration) before the old one is
dropped CONCURRENTLY, so no moment is without the rule. SQLite builds and drops them the usual way.
"""

from django.db import migrations, models


class AddUniqueIndexConcurrently(migrations.AddConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        sql = str(self.constraint.create_sql(model, schema_editor))
        # Re-run after a failed concurrent build: that leaves an INVALID index of the same name.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.constraint.name)}")
        schema_editor.execute(sql.replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1))


class RemoveUniqueIndexConcurrently(migrations.RemoveConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.name)}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("licensing", "0011_livemode"),
    ]

    operations = [
        AddUniqueIndexConcurrently(
            model_name="hostlicense",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "terminated"), _negated=True),
                fields=("host", "livemode", "server_identifier"),
                name="host_licenses_one_per_server_per_mode",
            ),
        ),
        RemoveUniqueIndexConcurrently(
            model_name="hostlicense",
            name="host_licenses_one_live_per_server",
        ),
    ]
